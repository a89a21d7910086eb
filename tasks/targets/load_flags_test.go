package targets

import (
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// Every flag of the load:* targets (a LoadFlags field, which mage names
// by its lowercased parameter) is a flag of cmd/loadgen's set under the
// same name and of the same type, so that the two front doors cannot
// drift apart.
func TestLoadFlagsMatchLoadgen(t *testing.T) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	f := load.DefaultFlags()
	f.RegisterFlags(fs)
	typ := reflect.TypeOf(LoadFlags{})
	for i := range typ.NumField() {
		field := typ.Field(i)
		name := strings.ToLower(field.Name)
		fl := fs.Lookup(name)
		if fl == nil {
			t.Errorf("LoadFlags.%s: load.Flags registers no -%s", field.Name, name)
			continue
		}
		if g, ok := fl.Value.(flag.Getter); ok {
			if got, want := reflect.TypeOf(g.Get()), field.Type.Elem(); got != want {
				t.Errorf("-%s: load.Flags has a %v, LoadFlags.%s a %v", name, got, field.Name, want)
			}
		}
	}
}
