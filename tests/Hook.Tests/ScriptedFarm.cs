using System.Text;
using BuildFarm.Hook.Protocol;

namespace BuildFarm.Hook.Tests;

/// <summary>A farm whose decisions and build result the test scripts; it records what the session asked.</summary>
internal sealed class ScriptedFarm(Queue<HookDecision> decisions, HookBuildResult? result = null, string log = "") : IHookFarm
{
    public List<HookCandidate> Asked { get; } = [];

    public List<(string DrvPath, IReadOnlyList<string> Wanted)> Built { get; } = [];

    public Task<HookDecision> DecideAsync(HookCandidate candidate, CancellationToken cancellationToken)
    {
        Asked.Add(candidate);
        return Task.FromResult(decisions.Dequeue());
    }

    public async Task<HookBuildResult> BuildAsync(string drvPath, IReadOnlyList<string> wantedOutputs, Stream logStream, CancellationToken cancellationToken)
    {
        Built.Add((drvPath, wantedOutputs));
        await logStream.WriteAsync(Encoding.UTF8.GetBytes(log), cancellationToken);
        return result ?? throw new InvalidOperationException("the script has no build");
    }

    public static HookDecision Accept(string machine = "buildfarm/w1") => new(HookVerdict.Accept, machine, "free");

    public static HookDecision Postpone() => new(HookVerdict.Postpone, "", "busy");

    public static HookDecision Decline(string reason = "no machine can build system mips64el-linux") => new(HookVerdict.Decline, "", reason);
}
