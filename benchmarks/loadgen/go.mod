module gosmith.invalid/benchmarks/loadgen

go 1.25
