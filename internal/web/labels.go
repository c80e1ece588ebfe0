package web

import (
	"hash/fnv"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// product is a requested product (scope) as the consent page lists it.
type product struct {
	ID          string
	Label       string
	Description string
}

// productLabels names the products of the sandbox catalogue and the seeds'
// dialects for people. Unknown ids are shown as readable words.
var productLabels = map[string]product{
	"accounts":      {Label: "Accounts", Description: "Account names, types and numbers"},
	"transactions":  {Label: "Transactions", Description: "Payments in and out, with dates and amounts"},
	"balances":      {Label: "Balances", Description: "Current and available balances"},
	"identity":      {Label: "Identity", Description: "Account holder names, e-mail addresses and addresses"},
	"company":       {Label: "Company", Description: "Company name, locations and departments"},
	"directory":     {Label: "Directory", Description: "The list of employees and their managers"},
	"individual":    {Label: "Individual details", Description: "Names, dates of birth and contact details"},
	"employment":    {Label: "Employment", Description: "Job titles, start dates and income"},
	"payment":       {Label: "Payments", Description: "Pay runs, with pay dates and totals"},
	"pay_statement": {Label: "Pay statements", Description: "Earnings, taxes and deductions per pay run"},
	"benefits":      {Label: "Benefits", Description: "Benefit plans and enrolments"},
	"quotes":        {Label: "Market quotes", Description: "Prices of the instruments you follow"},
	"positions":     {Label: "Positions", Description: "Holdings, quantities and cost basis"},
	"openid":        {Label: "Sign-in identity", Description: "An identifier for your account"},
	"offline_access": {Label: "Ongoing access",
		Description: "Access while you are not using the application"},
}

// productLabel is the human name of a product id.
func productLabel(id string) string {
	if p, ok := productLabels[id]; ok {
		return p.Label
	}
	s := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' || r == ':' {
			return ' '
		}
		return r
	}, id)
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return id
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func products(ids []string) []product {
	out := make([]product, 0, len(ids))
	for _, id := range ids {
		p := productLabels[id]
		p.ID, p.Label = id, productLabel(id)
		out = append(out, p)
	}
	return out
}

// providerView is a catalogue provider as a page shows it.
type providerView struct {
	ID        string
	Name      string
	Initials  string
	Color     int    // avatar colour class, 0..5
	Summary   string // what it offers
	Available bool   // offers every requested product
	Reason    string // why it cannot be chosen
	Current   bool   // the one chosen so far
}

const avatarColors = 6

func (p *Pages) providerView(id string, requested []string) providerView {
	v := providerView{ID: id, Name: id, Available: true}
	for _, d := range p.o.Catalogue {
		if d.ID != id {
			continue
		}
		v.Name = d.Name
		labels := make([]string, 0, len(d.Products))
		for _, pr := range d.Products {
			labels = append(labels, productLabel(pr))
		}
		v.Summary = listWords(labels)
		var missing []string
		for _, s := range requested {
			if !slices.Contains(d.Products, s) {
				missing = append(missing, productLabel(s))
			}
		}
		if len(missing) > 0 {
			v.Available = false
			v.Reason = "Unavailable: does not offer " + listWords(missing) + "."
		}
		break
	}
	v.Initials = initials(v.Name)
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	v.Color = int(h.Sum32() % avatarColors)
	return v
}

// listWords joins words as English does: "a", "a and b", "a, b and c".
func listWords(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

// initials are the avatar letters of a name: "Sandbox Bank" → "SB".
func initials(name string) string {
	var b []rune
	for _, f := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(f)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b = append(b, unicode.ToUpper(r))
		}
		if len(b) == 2 {
			break
		}
	}
	if len(b) == 0 {
		return "?"
	}
	return string(b)
}

func askedWords(ids []string) string {
	if len(ids) == 0 {
		return "basic access"
	}
	labels := make([]string, len(ids))
	for i, id := range ids {
		labels[i] = productLabel(id)
	}
	return listWords(labels)
}
