module gosmith.example/bench

go 1.24.0
