package all_test

import "flag"

var update = flag.Bool("update", false, "rewrite the profiles table of docs/dialects.md")
