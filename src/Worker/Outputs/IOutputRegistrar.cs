using BuildFarm.Contracts.Builds;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Outputs;

/// <summary>Turns the files a builder produced into signed <see cref="BuiltOutput"/> entries.</summary>
internal interface IOutputRegistrar
{
    Task<IReadOnlyList<BuiltOutput>> RegisterAsync(BuildPlan plan, IReadOnlyList<string> wantedOutputs, CancellationToken cancellationToken);
}
