// Command cinch makes AWS security groups as strict as the traffic that
// really uses them. See README.md and `cinch --help`.
package main

import "github.com/cinch-sg/cinch/cli"

func main() { cli.Main() }
