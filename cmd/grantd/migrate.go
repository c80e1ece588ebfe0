package main

import (
	"context"
	"fmt"

	"github.com/grantd/grantd/internal/config"
)

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.flagSet("migrate", "[flags]",
		"Create the database, or apply every pending schema migration. serve does the same at\n"+
			"start-up; run migrate on its own to upgrade before rolling out a new version.")
	cf := config.AddFlags(fs, config.StoreFlags...)
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return err
	}
	st, where, err := openStore(ctx, cfg) // opening migrates
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: schema version %d, up to date\n", where, v)
	return nil
}
