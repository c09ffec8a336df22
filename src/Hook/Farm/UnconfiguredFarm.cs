using BuildFarm.Hook.Protocol;

namespace BuildFarm.Hook.Farm;

/// <summary>A hook without a usable configuration declines every build, saying what to configure.</summary>
public sealed class UnconfiguredFarm(string reason) : IHookFarm
{
    public Task<HookDecision> DecideAsync(HookCandidate candidate, CancellationToken cancellationToken) =>
        Task.FromResult(new HookDecision(HookVerdict.Decline, "", reason));

    public Task<HookBuildResult> BuildAsync(string drvPath, IReadOnlyList<string> wantedOutputs, Stream log, CancellationToken cancellationToken) =>
        Task.FromResult(new HookBuildResult(HookOutcome.Failed, reason, []));
}
