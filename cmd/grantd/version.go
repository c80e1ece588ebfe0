package main

import (
	"context"
	"fmt"
)

func (c *cli) version(_ context.Context, args []string) error {
	fs := c.flagSet("version", "", "Print the version of grantd.")
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "grantd %s\n", version)
	return nil
}
