using System.Text;
using BuildFarm.Hook.Nix;
using BuildFarm.Hook.Protocol;

namespace BuildFarm.Hook.Guix;

/// <summary>
/// One run of <c>buildfarm guix-hook</c>, as guix-daemon drives <c>guix offload</c> (docs/hook.md): a text line
/// <c>&lt;0|1 am-willing&gt; &lt;system&gt; &lt;drv&gt; &lt;features, comma-separated&gt;</c> per candidate, answered
/// on stderr with <c># accept</c>, <c># decline</c> or <c># postpone</c> (no machine line, no
/// decline-permanently); after accept one line of input paths and one of missing output paths (space-separated),
/// then stdin closes. Exit 0 built, 100 build failure, 101 timeout, other transient; the log goes to fd 4.
/// </summary>
public sealed class GuixHookSession(IHookFarm farm, PostponeBudget budget)
{
    public async Task<int> RunAsync(Stream stdin, Stream stderr, Stream log, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stdin, new UTF8Encoding(false), false, 4096, leaveOpen: true);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            var candidate = Parse(line);
            var decision = budget.Apply(candidate.DrvPath, await farm.DecideAsync(candidate, cancellationToken));
            if (decision.Verdict == HookVerdict.Decline)
            {
                await NixHookSession.WriteLinesAsync(stderr, cancellationToken, $"buildfarm: {candidate.DrvPath}: {decision.Reason}", "# decline");
                continue;
            }

            if (decision.Verdict == HookVerdict.Postpone)
            {
                await NixHookSession.WriteLinesAsync(stderr, cancellationToken, "# postpone");
                continue;
            }

            await NixHookSession.WriteLinesAsync(stderr, cancellationToken, "# accept");
            _ = await reader.ReadLineAsync(cancellationToken) ?? throw new EndOfStreamException("guix-daemon closed the hook's stdin before the inputs line");
            var outputs = await reader.ReadLineAsync(cancellationToken) ?? throw new EndOfStreamException("guix-daemon closed the hook's stdin before the outputs line");
            var wanted = outputs.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var result = await farm.BuildAsync(candidate.DrvPath, wanted, log, cancellationToken);
            if (result.Outcome != HookOutcome.Built)
                await NixHookSession.WriteLinesAsync(log, cancellationToken, $"buildfarm: {result.Message}");
            return result.ExitCode;
        }

        return 0;
    }

    internal static HookCandidate Parse(string line)
    {
        // The daemon formats "%1% %2% %3% %4%": an empty feature list leaves a trailing space.
        var parts = line.Split(' ');
        if (parts.Length is < 3 or > 4 || parts[0] is not ("0" or "1"))
            throw new InvalidDataException($"guix-daemon sent '{line}' where the hook expects '<0|1> <system> <drv> <features>'");
        var features = parts.Length == 4 ? parts[3].Split(',', StringSplitOptions.RemoveEmptyEntries) : [];
        return new HookCandidate(parts[0] == "1", parts[1], parts[2], features);
    }
}
