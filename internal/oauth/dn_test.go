package oauth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// rawName encodes an RDN sequence (least specific first, as certificates
// hold it) the way crypto/x509 writes a subject.
func rawName(t *testing.T, rdns ...[]pkix.AttributeTypeAndValue) []byte {
	var seq pkix.RDNSequence
	for _, r := range rdns {
		seq = append(seq, pkix.RelativeDistinguishedNameSET(r))
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func atv(oid asn1.ObjectIdentifier, v string) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
}

var (
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrgID = asn1.ObjectIdentifier{2, 5, 4, 97}
)

// TestSubjectMatches: the registered DN matches the certificate's subject
// RDN by RDN, in order, by attribute OID, values compared case-insensitively
// with spaces collapsed; escapes, multi-valued RDNs and OIDs are read as
// RFC 4514 writes them; a subject that merely renders alike does not match.
func TestSubjectMatches(t *testing.T) {
	bank := rawName(t, atv(oidC, "GB"), atv(oidO, "Example Bank"), atv(oidCN, "client-1"))
	for _, tc := range []struct {
		name string
		raw  []byte
		dn   string
		want bool
	}{
		{"the same", bank, "CN=client-1,O=Example Bank,C=GB", true},
		{"spaces and case", bank, "cn = CLIENT-1 , o=example  bank, c=gb", true},
		{"by OID", bank, "2.5.4.3=client-1,2.5.4.10=Example Bank,2.5.4.6=GB", true},
		{"reversed order", bank, "C=GB,O=Example Bank,CN=client-1", false},
		{"one RDN missing", bank, "CN=client-1,O=Example Bank", false},
		{"another CN", bank, "CN=client-2,O=Example Bank,C=GB", false},
		{"a second CN in the certificate", rawName(t, atv(oidC, "GB"), atv(oidO, "Example Bank"), atv(oidCN, "attacker-app"), atv(oidCN, "client-1")),
			"CN=client-1,O=Example Bank,C=GB", false},
		{"an escaped comma", rawName(t, atv(oidCN, "Smith, John")), `CN=Smith\, John`, true},
		{"an escaped comma as hex", rawName(t, atv(oidCN, "Smith, John")), `CN=Smith\2C John`, true},
		{"a comma unescaped elsewhere", rawName(t, atv(oidCN, "Smith,JOHN")), `CN=Smith\, John`, false},
		{"a multi-valued RDN", rawName(t, atv(oidC, "GB"), []pkix.AttributeTypeAndValue{{Type: oidOU, Value: "a"}, {Type: oidCN, Value: "x"}}),
			"CN=x+OU=a,C=GB", true},
		{"a multi-valued RDN against two RDNs", rawName(t, atv(oidC, "GB"), atv(oidOU, "a"), atv(oidCN, "x")), "CN=x+OU=a,C=GB", false},
		{"two OUs", rawName(t, atv(oidOU, "a"), atv(oidOU, "b")), "OU=b,OU=a", true},
		{"organizationIdentifier", rawName(t, atv(oidC, "GB"), atv(oidOrgID, "PSDGB-FCA-123456")), "organizationIdentifier=PSDGB-FCA-123456,C=GB", true},
		{"a #hex value", bank, "CN=#0c08636c69656e742d31,O=Example Bank,C=GB", false},
		{"not a DN", bank, "client-1", false},
	} {
		if got := subjectMatches(tc.raw, tc.dn); got != tc.want {
			t.Errorf("%s: %q matches %v, want %v", tc.name, tc.dn, got, tc.want)
		}
	}
}
