package config

import (
	"os"
	"strings"
	"testing"
)

// docs/configuration.md names every setting, and its example file loads.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range Settings() {
		for _, name := range []string{"`" + s.Env + "`", "`" + s.YAML + "`"} {
			if !strings.Contains(doc, name) {
				t.Errorf("docs/configuration.md does not mention %s", name)
			}
		}
		if s.Flag != "" && !strings.Contains(doc, "`--"+s.Flag+"`") {
			t.Errorf("docs/configuration.md does not mention --%s", s.Flag)
		}
	}
	_, rest, ok := strings.Cut(doc, "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml example")
	}
	c, err := Load([]string{"--config", writeFile(t, example)}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the example does not validate: %v", err)
	}
}
