// Command mage runs the project's Mage targets without installing Mage:
//
//	go run ./mage -l
//	go run ./mage up:sim
//
// Run it from the project root. It is Mage itself (github.com/magefile/mage),
// pinned in go.mod.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
