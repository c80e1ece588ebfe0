package main

import (
	"context"
	"fmt"

	"github.com/grantd/grantd/internal/config"
)

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.flagSet("migrate", "[flags]",
		"Create the database, or apply every pending schema migration. serve does the same at\n"+
			"start-up; run migrate on its own to upgrade before rolling out a new version.\n\n"+
			"With --from and --to, copy every record of one store into another, empty one instead\n"+
			"(e.g. --from sqlite:///var/lib/grantd/grantd.db --to postgres://…). Both are migrated\n"+
			"first; the copy is one transaction on the target, checked by counting rows. Stop the\n"+
			"servers on the source first. Signing keys are copied sealed: the target needs the same\n"+
			"key-encryption key.")
	cf := config.AddFlags(fs, config.StoreFlags...)
	from := fs.String("from", "", "copy from this store `DSN` (the forms of --store)")
	to := fs.String("to", "", "copy into this store `DSN` (must be empty)")
	if err := c.parse(fs, args, 0, ""); err != nil {
		return err
	}
	if (*from == "") != (*to == "") {
		msg := "--from and --to go together"
		fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), msg)
		fs.Usage()
		return &usageError{msg}
	}
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return err
	}
	if *from != "" {
		return c.copyStores(ctx, cfg, *from, *to)
	}
	st, where, err := openStore(ctx, cfg, nil) // opening migrates
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
