package clients

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Bounds of balance changes and of list pages.
const (
	// MaxBalanceAmount bounds one top-up or debit (either sign).
	MaxBalanceAmount = 1_000_000_000_000
	// MaxLedgerReasonLen bounds the reason of a change, in characters.
	MaxLedgerReasonLen = 256
	// MaxIdempotencyKeyLen bounds an idempotency key, in bytes of
	// printable ASCII.
	MaxIdempotencyKeyLen = 255
	// DefaultPageLimit and MaxPageLimit bound the lists of the admin API
	// (clients, connections, ledger entries) and of the CLI.
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// PrefixIdempotencyKey starts the keys NewIdempotencyKey makes.
const PrefixIdempotencyKey = "idem_"

// NewIdempotencyKey makes a key for a balance change whose caller gave none
// (the CLI): 128 random bits.
func NewIdempotencyKey() string { return PrefixIdempotencyKey + oauth.RandomToken(16) }

// BalanceChange is a top-up (Amount > 0) or a debit (Amount < 0) of a
// metered client's balance: the JSON body of POST
// /admin/clients/{id}/balance.
type BalanceChange struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason"`
	// IdempotencyKey makes the change apply once: the same key again
	// changes nothing and answers the first change.
	IdempotencyKey string `json:"idempotency_key"`
}

// validate lists every problem of ch at once, as a 400 invalid_request.
func (ch BalanceChange) validate() error {
	var ps problems
	switch {
	case ch.Amount == 0:
		ps.add("amount is required: a non-zero integer (positive tops up, negative debits)")
	case ch.Amount > MaxBalanceAmount || ch.Amount < -MaxBalanceAmount:
		ps.add("amount must be at most %d either way", int64(MaxBalanceAmount))
	}
	switch {
	case strings.TrimSpace(ch.Reason) == "":
		ps.add("reason is required")
	case utf8.RuneCountInString(ch.Reason) > MaxLedgerReasonLen:
		ps.add("reason is longer than %d characters", MaxLedgerReasonLen)
	case !printable(ch.Reason):
		ps.add("reason must be valid UTF-8 without control characters, bidi controls or invisible characters")
	}
	switch k := ch.IdempotencyKey; {
	case k == "":
		ps.add("idempotency_key is required")
	case len(k) > MaxIdempotencyKeyLen:
		ps.add("idempotency_key is longer than %d characters", MaxIdempotencyKeyLen)
	case strings.IndexFunc(k, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		ps.add("idempotency_key must be printable ASCII without spaces")
	}
	if len(ps) > 0 {
		return oauth.InvalidRequest("%s.", strings.Join(ps, "; "))
	}
	return nil
}

// AdjustBalance applies ch to the balance of the client id and records it
// in the client's ledger, in one store transaction, and returns the ledger
// entry (its Balance is the balance right after the change). A key seen
// before for the client changes nothing and returns the first entry with
// replayed true. Errors: a 400 invalid_request *oauth.Error for an invalid
// change, and the store's store.ErrNotFound, store.ErrNotMetered,
// store.ErrInsufficientBalance (a debit below zero without overdraft) and
// store.ErrConflict (the key was used with another amount).
func (m *Manager) AdjustBalance(ctx context.Context, id string, ch BalanceChange) (e store.LedgerEntry, replayed bool, err error) {
	if err := ch.validate(); err != nil {
		return store.LedgerEntry{}, false, err
	}
	kind := store.LedgerTopUp
	if ch.Amount < 0 {
		kind = store.LedgerDebit
	}
	return m.Store.AdjustBalance(ctx, id, store.LedgerEntry{
		ClientID: id, Kind: kind, Amount: ch.Amount, Reason: ch.Reason,
		IdempotencyKey: ch.IdempotencyKey, CreatedAt: m.now(),
	})
}

// Ledger returns one page of the client's ledger, newest first, and the
// cursor of the next page ("" after the last); store.ErrNotFound when there
// is no such client.
func (m *Manager) Ledger(ctx context.Context, id string, p store.Page) ([]store.LedgerEntry, string, error) {
	if _, err := m.Store.GetClient(ctx, id); err != nil {
		return nil, "", err
	}
	return m.Store.ListLedger(ctx, id, p)
}

// BalanceView is the JSON of GET /admin/clients/{id}/balance.
type BalanceView struct {
	ClientID  string  `json:"client_id"`
	Metered   bool    `json:"metered"`
	Balance   int64   `json:"balance"`
	UpdatedAt *string `json:"updated_at"` // null before the first change
}

// NewBalanceView shows a client's balance.
func NewBalanceView(c store.Client) BalanceView {
	v := BalanceView{ClientID: c.ID, Metered: c.Metered, Balance: c.Balance}
	if !c.BalanceUpdatedAt.IsZero() {
		t := FormatTime(c.BalanceUpdatedAt)
		v.UpdatedAt = &t
	}
	return v
}

// LedgerEntryView is the JSON of one ledger entry.
type LedgerEntryView struct {
	ID             string `json:"id"`
	Kind           string `json:"kind"` // topup | debit | charge
	Amount         int64  `json:"amount"`
	Balance        int64  `json:"balance"` // right after this entry
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key,omitempty"` // top-ups and debits
	GrantType      string `json:"grant_type,omitempty"`      // charges
	CreatedAt      string `json:"created_at"`
}

// NewLedgerEntryView shows a ledger entry.
func NewLedgerEntryView(e store.LedgerEntry) LedgerEntryView {
	return LedgerEntryView{
		ID: e.ID, Kind: e.Kind, Amount: e.Amount, Balance: e.Balance, Reason: e.Reason,
		IdempotencyKey: e.IdempotencyKey, GrantType: e.GrantType, CreatedAt: FormatTime(e.CreatedAt),
	}
}

// AdjustmentView is the JSON answer of POST /admin/clients/{id}/balance:
// the ledger entry and the balance right after it. A replay answers the
// same, whatever happened to the balance since.
type AdjustmentView struct {
	ClientID string          `json:"client_id"`
	Balance  int64           `json:"balance"`
	Entry    LedgerEntryView `json:"entry"`
}

// NewAdjustmentView shows the outcome of AdjustBalance.
func NewAdjustmentView(clientID string, e store.LedgerEntry) AdjustmentView {
	return AdjustmentView{ClientID: clientID, Balance: e.Balance, Entry: NewLedgerEntryView(e)}
}

// LedgerPage is the JSON of GET /admin/clients/{id}/ledger.
type LedgerPage struct {
	Entries    []LedgerEntryView `json:"entries"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// NewLedgerPage shows a page of entries; Entries is never null.
func NewLedgerPage(es []store.LedgerEntry, next string) LedgerPage {
	return LedgerPage{Entries: views(es, NewLedgerEntryView), NextCursor: next}
}
