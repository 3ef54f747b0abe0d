using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

// Microbenchmarks of the two costs paid on every request: the access-policy decision and the
// audit append. In-process toolchain (no generated project to restore). Examples:
//   dotnet run -c Release --project bench/OpenDmp.Microbench -- --filter '*Policy*'
//   OPENDMP_BENCH_PG="Host=…" dotnet run -c Release --project bench/OpenDmp.Microbench -- --filter '*Audit*'
// bench/micro.sh runs both, PostgreSQL on a throwaway cluster.
var config = ManualConfig.Create(DefaultConfig.Instance)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(OpenDmp.Microbench.PolicyBenchmarks).Assembly).Run(args, config);
