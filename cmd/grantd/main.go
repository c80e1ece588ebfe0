// Command grantd is an OAuth 2.1 authorization server for financial-data
// APIs. One binary, with subcommands; each lives in its own file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	// Operating hours name IANA time zones: the binary carries the zone
	// database, so that it works where the system has none (containers).
	_ "time/tzdata"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/dialect/all"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

// The configuration refuses dialect names this build does not serve.
func init() { config.KnownDialects = all.Names() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run runs one command line. Cancelling ctx stops a running server.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return (&cli{stdout: stdout, stderr: stderr, getenv: os.Getenv}).run(ctx, args)
}

// cli is what every command gets: where to write and how to read the
// environment (tests replace both).
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// ready, when set, is called by serve with the URLs of the public and
	// admin listeners once both accept connections.
	ready func(publicURL, adminURL string)
}

var commands = map[string]func(*cli, context.Context, []string) error{
	"serve":   (*cli).serve,
	"migrate": (*cli).migrate,
	"client":  (*cli).client,
	"keys":    (*cli).keys,
	"version": (*cli).version,
}

const usageText = `Usage: grantd <command> [arguments]

Commands:
  serve     run the authorization server (public API and admin API)
  migrate   create or upgrade the database schema
  client    manage clients: create, list, get, delete, rotate-secret, balance, ledger
  keys      manage signing keys: list, rotate, rotate-kek
  version   print the version

Run 'grantd <command> -h' for a command's flags. Every flag also has a
GRANTD_* environment variable (--data-dir: GRANTD_DATA_DIR).
`

func (c *cli) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.usageError(usageText, "no command")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usageText)
		return nil
	case "-version", "--version":
		return c.version(ctx, args[1:])
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return c.usageError(usageText, "unknown command %q", args[0])
	}
	return cmd(c, ctx, args[1:])
}

// usageError is a mistake on the command line: exit status 2. Its message
// and the usage are already on stderr.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usageError prints "grantd: msg" and usage to stderr.
func (c *cli) usageError(usage, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(c.stderr, "grantd: %s\n\n%s", msg, usage)
	return &usageError{msg}
}

// exitCode maps run's error to the exit status, printing other errors.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		fmt.Fprintf(stderr, "grantd: %v\n", err)
		return 1
	}
}
