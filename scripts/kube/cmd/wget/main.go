// Command wget is the `helm test` client of the suite's single-node cluster (scripts/cluster-tools.sh):
// a static binary that understands the busybox wget arguments the generated chart's test pod uses
// (-q, -T SECONDS, -O FILE, URL), so the suite needs no busybox image.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	timeout, out, url := 10*time.Second, "-", ""
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-q":
		case "-T":
			i++
			if i < len(args) {
				if s, err := strconv.Atoi(args[i]); err == nil {
					timeout = time.Duration(s) * time.Second
				}
			}
		case "-O":
			i++
			if i < len(args) {
				out = args[i]
			}
		default:
			url = args[i]
		}
	}
	if url == "" {
		fmt.Fprintln(os.Stderr, "usage: wget [-q] [-T SECONDS] [-O FILE] URL")
		os.Exit(2)
	}
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wget:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	var w io.Writer = os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wget:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, "wget:", err)
		os.Exit(1)
	}
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(os.Stderr, "wget: server returned", resp.Status)
		os.Exit(1)
	}
}
