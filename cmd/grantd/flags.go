package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/clients"
)

// flagSet returns a FlagSet for "grantd <name>" whose usage shows synopsis,
// a description and the flags with two dashes.
func (c *cli) flagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("grantd "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { printUsage(fs.Output(), fs, synopsis, description) }
	return fs
}

func printUsage(w io.Writer, fs *flag.FlagSet, synopsis, description string) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace(fs.Name()+" "+synopsis), description)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		arg, usage := flag.UnquoteUsage(f)
		if a, ok := f.Value.(interface{ ArgName() string }); ok && arg == "value" {
			arg = a.ArgName()
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		}
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(w, "  --%s%s\n    \t%s", f.Name, arg, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parse parses args into fs and checks the number of positional arguments
// (nargs < 0: any number). Errors are usage errors, already printed.
func (c *cli) parse(fs *flag.FlagSet, args []string, nargs int, argNames string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &usageError{err.Error()}
	}
	if nargs >= 0 && fs.NArg() != nargs {
		var msg string
		switch {
		case fs.NArg() > nargs:
			msg = fmt.Sprintf("unexpected argument %q", fs.Arg(nargs))
		default:
			msg = "missing " + argNames
		}
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), msg)
		fs.Usage()
		return &usageError{msg}
	}
	return nil
}

// listFlag is a repeatable flag; each value may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// durationFlag reads a Go duration ("720h") or whole seconds ("3600").
type durationFlag clients.Duration

func (d *durationFlag) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

func (d *durationFlag) Set(v string) error {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		*d = durationFlag(time.Duration(n) * time.Second)
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want a duration such as 720h or whole seconds")
	}
	*d = durationFlag(x)
	return nil
}

// mapFlag is a repeatable key=value flag.
type mapFlag map[string]string

func (m mapFlag) String() string { return "" }

func (m mapFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value")
	}
	m[k] = val
	return nil
}

// outputFlag is --output text|json.
type outputFlag string

func (o *outputFlag) String() string {
	if o == nil {
		return ""
	}
	return string(*o)
}

func (o *outputFlag) Set(v string) error {
	if v != "text" && v != "json" {
		return fmt.Errorf("want text or json")
	}
	*o = outputFlag(v)
	return nil
}

func addOutputFlag(fs *flag.FlagSet) *outputFlag {
	o := outputFlag("text")
	fs.Var(&o, "output", "output `format`: text or json")
	return &o
}
