package logging

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"go.uber.org/zap/zapcore"
)

// FieldAppender is a log field value (zap.Inline) that appends its fields as JSON itself. The
// service's core writes a line whose only field is a FieldAppender without zap's field encoder:
// the access log, written once per request, spent most of its time there. AppendLogFields must
// append exactly what MarshalLogObject adds through zap's JSON encoder, each member with its
// leading comma: use AppendString, AppendInt and AppendFloat with keys made by NewKey.
type FieldAppender interface {
	zapcore.ObjectMarshaler
	AppendLogFields(b []byte) []byte
}

// Key is a member name encoded once (`,"name":`), for the Append functions.
type Key string

// NewKey encodes name as a member name.
func NewKey(name string) Key {
	return Key(append(appendQuoted([]byte{','}, name), ':'))
}

// AppendString appends the member ,"key":"value", escaped as zap's JSON encoder does.
func AppendString(b []byte, key Key, value string) []byte {
	return appendQuoted(append(b, key...), value)
}

// AppendInt appends the member ,"key":value.
func AppendInt(b []byte, key Key, value int64) []byte {
	return strconv.AppendInt(append(b, key...), value, 10)
}

// AppendFloat appends the member ,"key":value, formatted as zap's JSON encoder does.
func AppendFloat(b []byte, key Key, value float64) []byte {
	b = append(b, key...)
	switch {
	case math.IsNaN(value):
		return append(b, `"NaN"`...)
	case math.IsInf(value, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(value, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, value, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string with the escaping of zap's JSON encoder: \\ \" \n \r
// \t, other bytes below 0x20 as \u00XX, each byte of an invalid UTF-8 sequence as \ufffd.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[last:i]...)
			b = append(b, `\ufffd`...)
			i++
			last = i
			continue
		}
		if c >= 0x20 && c != '\\' && c != '"' {
			i++
			continue
		}
		b = append(b, s[last:i]...)
		switch c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		last = i
	}
	b = append(b, s[last:]...)
	return append(b, '"')
}

// lineCore is the service's core: zap's JSON core (Core) for every entry, except an entry whose
// only field is a FieldAppender, which it writes itself in the same format. TestLineCoreMatchesZap
// keeps the two byte for byte equal.
type lineCore struct {
	zapcore.Core
	out    zapcore.WriteSyncer
	fields []byte // the fields added by With, encoded, each with its leading comma
	fast   bool   // false once With opened a namespace: zap then writes every entry
}

// newLineCore wraps zap's JSON core (with EncoderConfig) writing to out.
func newLineCore(out zapcore.WriteSyncer, level zapcore.LevelEnabler) zapcore.Core {
	return &lineCore{Core: zapcore.NewCore(zapcore.NewJSONEncoder(EncoderConfig()), out, level), out: out, fast: true}
}

// With adds fields to both cores.
func (c *lineCore) With(fields []zapcore.Field) zapcore.Core {
	next := &lineCore{Core: c.Core.With(fields), out: c.out, fast: c.fast}
	next.fields = appendEncoded(slices.Clip(c.fields), fields)
	for _, f := range fields {
		if f.Type == zapcore.NamespaceType {
			next.fast = false
		}
	}
	return next
}

// appendEncoded appends fields as zap's JSON encoder writes them, each with its leading comma.
func appendEncoded(b []byte, fields []zapcore.Field) []byte {
	if len(fields) == 0 {
		return b
	}
	cfg := EncoderConfig() // the value encoders, without the entry's own keys
	cfg.TimeKey, cfg.LevelKey, cfg.NameKey, cfg.CallerKey, cfg.MessageKey, cfg.StacktraceKey = "", "", "", "", "", ""
	cfg.FunctionKey, cfg.SkipLineEnding = "", true
	buf, err := zapcore.NewJSONEncoder(cfg).EncodeEntry(zapcore.Entry{}, fields)
	if err != nil {
		return b
	}
	defer buf.Free()
	obj := buf.Bytes() // {"k":v,...}
	if len(obj) <= 2 {
		return b
	}
	b = append(b, ',')
	return append(b, obj[1:len(obj)-1]...)
}

// Check adds this core (not the wrapped one) to the entry.
func (c *lineCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// The keys of EncoderConfig that the line core writes itself.
var keyLogger, keyCaller, keyMsg = NewKey("logger"), NewKey("caller"), NewKey("msg")

// linePool holds the buffers lines are built in.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Write writes the entry: a FieldAppender line by itself, any other through zap's encoder.
func (c *lineCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if !c.fast || len(fields) != 1 || fields[0].Type != zapcore.InlineMarshalerType || ent.Stack != "" {
		return c.Core.Write(ent, fields)
	}
	a, ok := fields[0].Interface.(FieldAppender)
	if !ok {
		return c.Core.Write(ent, fields)
	}
	p := linePool.Get().(*[]byte)
	b := append((*p)[:0], `{"level":`...) // EncoderConfig: level, ts, logger, caller, msg
	b = appendQuoted(b, ent.Level.String())
	if !ent.Time.IsZero() {
		b = append(b, `,"ts":"`...)
		b = AppendTimestamp(b, ent.Time)
		b = append(b, '"')
	}
	if ent.LoggerName != "" {
		b = AppendString(b, keyLogger, ent.LoggerName)
	}
	if ent.Caller.Defined {
		b = AppendString(b, keyCaller, shortCaller(ent.Caller))
	}
	b = AppendString(b, keyMsg, ent.Message)
	b = append(b, c.fields...)
	b = a.AppendLogFields(b)
	b = append(b, '}', '\n')
	_, err := c.out.Write(b)
	if cap(b) <= 64<<10 { // a huge line does not stay in the pool
		*p = b
		linePool.Put(p)
	}
	if err != nil {
		return err
	}
	if ent.Level > zapcore.ErrorLevel {
		return c.Sync()
	}
	return nil
}
