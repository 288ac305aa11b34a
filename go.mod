module github.com/cinch-sg/cinch

go 1.26
