package oauth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
)

// Distinguished names (RFC 4514) for tls_client_auth_subject_dn (RFC 8705
// §2.1.2): the registered string is parsed into its RDN sequence and
// compared with the certificate's subject as encoded (RawSubject), RDN by
// RDN, in order, attribute by attribute (type by OID, value by a
// case-insensitive comparison after collapsing spaces, as RFC 4518's
// string preparation does for the common case). Nothing is compared as
// rendered text: two names that print alike are not thereby the same.

// dnTypes maps the attribute type names RFC 4514 §3 and common
// certificate profiles use to their OIDs.
var dnTypes = map[string]string{
	"CN": "2.5.4.3", "SN": "2.5.4.4", "SERIALNUMBER": "2.5.4.5", "C": "2.5.4.6", "L": "2.5.4.7", "ST": "2.5.4.8",
	"STREET": "2.5.4.9", "O": "2.5.4.10", "OU": "2.5.4.11", "TITLE": "2.5.4.12", "GIVENNAME": "2.5.4.42",
	"ORGANIZATIONIDENTIFIER": "2.5.4.97", "DC": "0.9.2342.19200300.100.1.25", "UID": "0.9.2342.19200300.100.1.1",
	"EMAILADDRESS": "1.2.840.113549.1.9.1",
}

// dnAttr is one attribute of an RDN: its type's OID and its value.
type dnAttr struct{ oid, value string }

// ParseDN parses an RFC 4514 distinguished name (most specific RDN first)
// into its RDNs in that order. Values given as #hex (BER) are refused: a
// registered name is text.
func ParseDN(s string) ([][]dnAttr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty distinguished name")
	}
	var (
		rdns [][]dnAttr
		rdn  []dnAttr
	)
	for i := 0; i < len(s); {
		// attributeType "="
		j := strings.IndexByte(s[i:], '=')
		if j < 0 {
			return nil, errors.New("an attribute without '='")
		}
		typ := strings.TrimSpace(s[i : i+j])
		oid, ok := dnTypes[strings.ToUpper(typ)]
		if !ok {
			if !validOID(typ) {
				return nil, errors.New("unknown attribute type " + typ)
			}
			oid = typ
		}
		i += j + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '#' {
			return nil, errors.New("a #hex value (give the value as text)")
		}
		var v strings.Builder
		end := byte(0)
		for ; i < len(s); i++ {
			c := s[i]
			if c == ',' || c == '+' {
				end = c
				i++
				break
			}
			if c != '\\' {
				v.WriteByte(c)
				continue
			}
			if i+1 >= len(s) {
				return nil, errors.New("a trailing backslash")
			}
			if b, err := hex.DecodeString(s[i+1 : min(i+3, len(s))]); err == nil && len(b) == 1 {
				v.WriteByte(b[0])
				i += 2
				continue
			}
			v.WriteByte(s[i+1])
			i++
		}
		value := strings.TrimSpace(v.String())
		if value == "" {
			return nil, errors.New("an empty attribute value")
		}
		rdn = append(rdn, dnAttr{oid: oid, value: value})
		if end != '+' {
			rdns = append(rdns, rdn)
			rdn = nil
		}
		if end != 0 && i >= len(s) {
			return nil, errors.New("a separator at the end")
		}
	}
	return rdns, nil
}

func validOID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// subjectMatches reports whether a certificate's raw subject is the
// registered distinguished name dn.
func subjectMatches(rawSubject []byte, dn string) bool {
	want, err := ParseDN(dn)
	if err != nil {
		return false
	}
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawSubject, &seq); err != nil || len(rest) > 0 || len(seq) != len(want) {
		return false
	}
	// The string lists the most specific RDN first; the sequence, last.
	for i, set := range seq {
		if !sameRDN(set, want[len(want)-1-i]) {
			return false
		}
	}
	return true
}

// sameRDN reports whether a certificate's RDN holds exactly the attributes
// want does, in any order.
func sameRDN(set pkix.RelativeDistinguishedNameSET, want []dnAttr) bool {
	if len(set) != len(want) {
		return false
	}
	used := make([]bool, len(want))
	for _, atv := range set {
		v, ok := atv.Value.(string)
		if !ok {
			return false
		}
		found := false
		for j, w := range want {
			if !used[j] && w.oid == atv.Type.String() && prepared(w.value) == prepared(v) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// prepared is a value as compared: spaces collapsed, case folded.
func prepared(v string) string { return strings.ToLower(strings.Join(strings.Fields(v), " ")) }
