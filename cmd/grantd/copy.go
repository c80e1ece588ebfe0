package main

// grantd migrate --from DSN --to DSN: copy every record of one store into
// another, empty one (SQLite to PostgreSQL, and back).
//
// The copy works on rows, table by table in dependency order, with the
// columns both backends' schemas share (same tables, same column names;
// see docs/storage.md). Each column has a kind, and each backend encodes a
// kind its own way (a time is Unix milliseconds in SQLite, a timestamptz in
// PostgreSQL; a list is JSON text in SQLite, a text[] in PostgreSQL). The
// source is read in one consistent snapshot; the target is written in one
// transaction that first checks every table is empty and last checks every
// table's row count against the source's: a failed copy writes nothing.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/store/postgres"
)

// colKind is how a column's values travel between backends.
type colKind int

const (
	colText  colKind = iota // string
	colBytes                // []byte; nil is NULL
	colInt                  // int64 (durations in nanoseconds, counters, seq)
	colBool                 // bool
	colTime                 // time.Time in UTC; the zero time is "none"
	colList                 // []string
	colJSON                 // string holding a JSON document
)

type copyCol struct {
	name string
	kind colKind
}

// copyTable is one table: its columns and the order rows are read in.
type copyTable struct {
	name  string
	order string
	cols  []copyCol
}

// copyTables lists every table of the store, parents before children.
// TestCopyTablesMatchSchemas checks it against both backends' schemas: a
// migration that adds a column or a table must add it here too.
var copyTables = []copyTable{
	table("clients", "id", `id name secret_hash:bytes auth_method grant_types:list response_types:list
		redirect_uris:list scopes:list environment tier state refresh_policy refresh_idle_timeout:int
		refresh_ttl:int access_token_ttl:int token_format consent_url resource_server:bool metadata:json
		created_at:time updated_at:time webhook_url webhook_secret:bytes consent_ttl:int retention_ttl:int`),
	table("auth_requests", "id", `id client_id response_type redirect_uri state scopes:list code_challenge
		code_challenge_method csrf_token subject created_at:time expires_at:time customer_id customer_name
		provider_id provider_fixed:bool`),
	table("connections", "id", `id client_id customer_id customer_name provider_id subject products:list
		entity_ids:list connection_type environment status created_at:time consent_expires_at:time
		data_retention_until:time revoked_at:time`),
	table("auth_codes", "hash", `hash:bytes kind client_id redirect_uri scopes:list subject connection_id
		code_challenge code_challenge_method grant_id created_at:time expires_at:time used_at:time`),
	table("refresh_families", "id", `id client_id subject connection_id scopes:list policy idle_timeout:int
		created_at:time expires_at:time last_used_at:time revoked_at:time`),
	table("refresh_tokens", "hash", `hash:bytes family_id created_at:time used_at:time`),
	table("access_tokens", "id", `id client_id subject family_id connection_id scopes:list format
		created_at:time expires_at:time revoked_at:time`),
	table("signing_keys", "seq", `id algorithm encrypted_key:bytes state created_at:time seq:int`),
	table("events", "seq", `seq:int id client_id connection_id type payload:bytes created_at:time attempts:int
		next_attempt_at:time last_error delivered_at:time failed:bool`),
}

// table parses "name[:kind] …" (kind text when omitted).
func table(name, order, spec string) copyTable {
	kinds := map[string]colKind{"text": colText, "bytes": colBytes, "int": colInt, "bool": colBool,
		"time": colTime, "list": colList, "json": colJSON}
	t := copyTable{name: name, order: order}
	for _, f := range strings.Fields(spec) {
		col, kind, _ := strings.Cut(f, ":")
		k, ok := kinds[kind]
		if kind != "" && !ok {
			panic("copy: unknown column kind " + f)
		}
		t.cols = append(t.cols, copyCol{col, k})
	}
	return t
}

func (t copyTable) colNames() []string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	return names
}

// rowIter yields a table's rows in canonical form (see colKind).
type rowIter interface {
	Next() bool
	Values() ([]any, error)
	Err() error
	Close()
}

// copyReader reads one consistent snapshot of a store.
type copyReader interface {
	count(ctx context.Context, t copyTable) (int64, error)
	rows(ctx context.Context, t copyTable) (rowIter, error)
}

// copyWriter writes into a store inside one transaction.
type copyWriter interface {
	count(ctx context.Context, t copyTable) (int64, error)
	write(ctx context.Context, t copyTable, rows rowIter) (int64, error)
}

// copyEnd is one side of a copy: a store opened for bulk access.
type copyEnd interface {
	snapshot(ctx context.Context, fn func(r copyReader) error) error
	load(ctx context.Context, fn func(w copyWriter) error) error
	Close() error
}

// copyStores copies every row of the store fromDSN names into the empty
// store toDSN names, and prints what it copied.
func (c *cli) copyStores(ctx context.Context, cfg config.Config, fromDSN, toDSN string) error {
	fromSpec, err := config.ParseStore(fromDSN, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	toSpec, err := config.ParseStore(toDSN, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if sameStore(fromSpec, toSpec) {
		return errors.New("--from and --to name the same store")
	}
	from, fromWhere, err := openCopyEnd(ctx, fromSpec, cfg.Postgres)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer from.Close()
	to, toWhere, err := openCopyEnd(ctx, toSpec, cfg.Postgres)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer to.Close()

	out := c.stdout
	counts, err := copyRows(ctx, from, to)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w (nothing was written)", fromWhere, toWhere, err)
	}
	fmt.Fprintf(out, "copied %s to %s:\n", fromWhere, toWhere)
	var total int64
	for _, t := range copyTables {
		fmt.Fprintf(out, "  %-17s %d\n", t.name, counts[t.name])
		total += counts[t.name]
	}
	fmt.Fprintf(out, "%d rows, counts verified.\n"+
		"Signing keys are copied sealed: run grantd on the target with the same key-encryption key\n"+
		"(GRANTD_KEY_ENCRYPTION_KEY, or the source's DATA_DIR/kek).\n", total)
	return nil
}

// sameStore reports whether two specs name the same store.
func sameStore(a, b config.StoreSpec) bool {
	if a.Backend != b.Backend {
		return false
	}
	if a.Backend == config.BackendSQLite {
		pa, errA := filepath.Abs(a.Path)
		pb, errB := filepath.Abs(b.Path)
		return errA == nil && errB == nil && pa == pb
	}
	return a.DSN == b.DSN
}

// copyRows copies every table of from into to, in one snapshot of from and
// one transaction on to, and returns the rows copied per table.
func copyRows(ctx context.Context, from, to copyEnd) (map[string]int64, error) {
	counts := map[string]int64{}
	err := from.snapshot(ctx, func(r copyReader) error {
		want := map[string]int64{}
		for _, t := range copyTables {
			n, err := r.count(ctx, t)
			if err != nil {
				return fmt.Errorf("count source %s: %w", t.name, err)
			}
			want[t.name] = n
		}
		return to.load(ctx, func(w copyWriter) error {
			for _, t := range copyTables {
				n, err := w.count(ctx, t)
				if err != nil {
					return fmt.Errorf("count target %s: %w", t.name, err)
				}
				if n != 0 {
					return fmt.Errorf("the target is not empty (table %s has %d rows): copy only into a new store", t.name, n)
				}
			}
			for _, t := range copyTables {
				rows, err := r.rows(ctx, t)
				if err != nil {
					return fmt.Errorf("read %s: %w", t.name, err)
				}
				n, err := w.write(ctx, t, rows)
				rows.Close()
				if err == nil {
					err = rows.Err()
				}
				if err != nil {
					return fmt.Errorf("copy %s: %w", t.name, err)
				}
				counts[t.name] = n
			}
			for _, t := range copyTables {
				n, err := w.count(ctx, t)
				if err != nil {
					return fmt.Errorf("count target %s: %w", t.name, err)
				}
				if n != want[t.name] || counts[t.name] != want[t.name] {
					return fmt.Errorf("table %s: the source has %d rows, %d were copied, the target has %d",
						t.name, want[t.name], counts[t.name], n)
				}
			}
			return nil
		})
	})
	return counts, err
}

// openCopyEnd opens the store spec names, migrated to this build's schema,
// for bulk access.
func openCopyEnd(ctx context.Context, spec config.StoreSpec, pool config.Postgres) (copyEnd, string, error) {
	st, where, err := openSpec(ctx, spec, pool) // migrates
	if err != nil {
		return nil, "", err
	}
	switch st := st.(type) {
	case *postgres.Store:
		return pgEnd{st}, where, nil
	default:
		// The SQLite store keeps its connections to itself: close it, and
		// open the file it migrated with database/sql.
		if err := st.Close(); err != nil {
			return nil, "", err
		}
		db, err := sql.Open("sqlite", sqliteCopyDSN(spec.Path))
		if err == nil {
			err = db.PingContext(ctx)
		}
		if err != nil {
			return nil, "", err
		}
		db.SetMaxOpenConns(1)
		return sqliteEnd{db}, where, nil
	}
}

// ---- SQLite ----

type sqliteEnd struct{ db *sql.DB }

// sqliteCopyDSN opens path with foreign keys on, waiting up to 10 s for a
// lock. Transactions are deferred: the source's read transaction takes no
// write lock, and the target is a new file nobody else writes.
func sqliteCopyDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

func (e sqliteEnd) Close() error { return e.db.Close() }

func (e sqliteEnd) snapshot(ctx context.Context, fn func(r copyReader) error) error {
	// Under WAL, a transaction's reads all see the state of its first one.
	tx, err := e.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(sqliteTx{tx})
}

func (e sqliteEnd) load(ctx context.Context, fn func(w copyWriter) error) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(sqliteTx{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

type sqliteTx struct{ tx *sql.Tx }

func (s sqliteTx) count(ctx context.Context, t copyTable) (int64, error) {
	var n int64
	err := s.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n)
	return n, err
}

func (s sqliteTx) rows(ctx context.Context, t copyTable) (rowIter, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT `+strings.Join(t.colNames(), ", ")+` FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return nil, err
	}
	return &sqliteRows{rows: rows, t: t}, nil
}

func (s sqliteTx) write(ctx context.Context, t copyTable, rows rowIter) (int64, error) {
	stmt, err := s.tx.PrepareContext(ctx, `INSERT INTO `+t.name+` (`+strings.Join(t.colNames(), ", ")+
		`) VALUES (`+strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ")+`)`)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	var n int64
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return n, err
		}
		args := make([]any, len(vals))
		for i, c := range t.cols {
			if args[i], err = sqliteEncode(c.kind, vals[i]); err != nil {
				return n, fmt.Errorf("column %s: %w", c.name, err)
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// sqliteEncode turns a canonical value into SQLite's encoding (see
// internal/store/sqlite/codec.go).
func sqliteEncode(k colKind, v any) (any, error) {
	switch k {
	case colTime:
		if t := v.(time.Time); !t.IsZero() {
			return t.UnixMilli(), nil
		}
		return int64(0), nil
	case colList:
		b, err := json.Marshal(v.([]string))
		return string(b), err
	case colBool:
		if v.(bool) {
			return int64(1), nil
		}
		return int64(0), nil
	}
	return v, nil
}

type sqliteRows struct {
	rows *sql.Rows
	t    copyTable
}

func (r *sqliteRows) Next() bool { return r.rows.Next() }
func (r *sqliteRows) Err() error { return r.rows.Err() }
func (r *sqliteRows) Close()     { r.rows.Close() }

func (r *sqliteRows) Values() ([]any, error) {
	dest := make([]any, len(r.t.cols))
	for i, c := range r.t.cols {
		switch c.kind {
		case colText, colList, colJSON:
			dest[i] = new(string)
		case colBytes:
			dest[i] = new([]byte)
		default: // int, bool, time: INTEGER
			dest[i] = new(int64)
		}
	}
	if err := r.rows.Scan(dest...); err != nil {
		return nil, err
	}
	vals := make([]any, len(dest))
	for i, c := range r.t.cols {
		switch c.kind {
		case colText, colJSON:
			vals[i] = *dest[i].(*string)
		case colBytes:
			vals[i] = *dest[i].(*[]byte)
		case colInt:
			vals[i] = *dest[i].(*int64)
		case colBool:
			vals[i] = *dest[i].(*int64) != 0
		case colTime:
			var t time.Time
			if ms := *dest[i].(*int64); ms != 0 {
				t = time.UnixMilli(ms).UTC()
			}
			vals[i] = t
		case colList:
			var l []string
			if err := json.Unmarshal([]byte(*dest[i].(*string)), &l); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", r.t.name, c.name, err)
			}
			vals[i] = l
		}
	}
	return vals, nil
}

// ---- PostgreSQL ----

type pgEnd struct{ st *postgres.Store }

func (e pgEnd) Close() error { return e.st.Close() }

func (e pgEnd) snapshot(ctx context.Context, fn func(r copyReader) error) error {
	return e.st.Snapshot(ctx, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
}

func (e pgEnd) load(ctx context.Context, fn func(w copyWriter) error) error {
	return e.st.Load(ctx, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
}

type pgTx struct{ tx pgx.Tx }

func (p pgTx) count(ctx context.Context, t copyTable) (int64, error) {
	var n int64
	err := p.tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{t.name}.Sanitize()).Scan(&n)
	return n, err
}

func (p pgTx) rows(ctx context.Context, t copyTable) (rowIter, error) {
	rows, err := p.tx.Query(ctx, `SELECT `+strings.Join(t.colNames(), ", ")+` FROM `+
		pgx.Identifier{t.name}.Sanitize()+` ORDER BY `+t.order)
	if err != nil {
		return nil, err
	}
	return &pgRows{rows: rows, t: t}, nil
}

// write loads the rows with COPY FROM, the fastest way in.
func (p pgTx) write(ctx context.Context, t copyTable, rows rowIter) (int64, error) {
	return p.tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.colNames(), pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for i, c := range t.cols {
			vals[i] = pgEncode(c.kind, vals[i])
		}
		return vals, nil
	}))
}

// pgEncode turns a canonical value into PostgreSQL's encoding (see
// internal/store/postgres/codec.go).
func pgEncode(k colKind, v any) any {
	switch k {
	case colTime:
		if t := v.(time.Time); !t.IsZero() {
			return t
		}
		return nil
	case colList:
		if l := v.([]string); l != nil {
			return l
		}
		return []string{}
	}
	return v
}

type pgRows struct {
	rows pgx.Rows
	t    copyTable
}

func (r *pgRows) Next() bool { return r.rows.Next() }
func (r *pgRows) Err() error { return r.rows.Err() }
func (r *pgRows) Close()     { r.rows.Close() }

func (r *pgRows) Values() ([]any, error) {
	dest := make([]any, len(r.t.cols))
	for i, c := range r.t.cols {
		switch c.kind {
		case colText, colJSON:
			dest[i] = new(string)
		case colBytes:
			dest[i] = new([]byte)
		case colInt:
			dest[i] = new(int64)
		case colBool:
			dest[i] = new(bool)
		case colTime:
			dest[i] = new(pgtype.Timestamptz)
		case colList:
			dest[i] = new([]string)
		}
	}
	if err := r.rows.Scan(dest...); err != nil {
		return nil, err
	}
	vals := make([]any, len(dest))
	for i, c := range r.t.cols {
		switch c.kind {
		case colText, colJSON:
			vals[i] = *dest[i].(*string)
		case colBytes:
			vals[i] = *dest[i].(*[]byte)
		case colInt:
			vals[i] = *dest[i].(*int64)
		case colBool:
			vals[i] = *dest[i].(*bool)
		case colTime:
			var t time.Time
			if ts := dest[i].(*pgtype.Timestamptz); ts.Valid {
				t = ts.Time.UTC()
			}
			vals[i] = t
		case colList:
			vals[i] = *dest[i].(*[]string)
		}
	}
	return vals, nil
}
