"""Pure, stdlib-only rules behind gosmith's copier template: answer validators and tuning."""
