module github.com/cinch-sg/cinch/bench/otelpeer

go 1.26.0

require github.com/cinch-sg/cinch v0.0.0

replace github.com/cinch-sg/cinch => ../..
