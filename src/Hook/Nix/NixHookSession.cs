using System.Text;
using BuildFarm.Hook.Protocol;
using BuildFarm.Hook.Wire;

namespace BuildFarm.Hook.Nix;

/// <summary>
/// One run of <c>buildfarm nix-hook</c>, as Nix 2.8's daemon drives its <c>build-hook</c> (docs/hook.md): settings
/// on stdin, then <c>try</c> messages answered on stderr until one is accepted; after <c>accept</c> and the machine
/// line, the input paths and wanted output names, then the build. The daemon keeps one hook process for all the
/// candidates it declines or postpones and starts a new one after each accept, so a session builds at most one
/// derivation. Plain stderr lines reach the user only before the reply; after accept only file descriptor 4 (the
/// builder log, whose last lines Nix prints on failure) is shown, so every later message goes there.
/// </summary>
public sealed class NixHookSession(IHookFarm farm, PostponeBudget budget)
{
    /// <summary>The settings the daemon sent (name → value), read before the first <c>try</c>.</summary>
    public IReadOnlyDictionary<string, string> Settings => _settings;

    private readonly Dictionary<string, string> _settings = new(StringComparer.Ordinal);

    /// <summary>Runs to the end of the conversation; returns the process exit code the daemon expects.</summary>
    public async Task<int> RunAsync(Stream stdin, Stream stderr, Stream log, CancellationToken cancellationToken)
    {
        var reader = new NixWireReader(stdin);
        await ReadSettingsAsync(reader, cancellationToken);
        while (true)
        {
            // The daemon closes stdin (or kills us) when it has nothing more to offer: a clean end.
            var length = await reader.TryReadU64Async(cancellationToken);
            if (length is null)
                return 0;
            var command = await ReadTailAsync(reader, length.Value, cancellationToken);
            if (command != "try")
                throw new InvalidDataException($"the daemon sent '{command}' where the hook expects 'try'");
            var candidate = new HookCandidate(
                await reader.ReadU64Async("am-willing", cancellationToken) != 0,
                await reader.ReadStringAsync("the system", cancellationToken),
                await reader.ReadStringAsync("the derivation path", cancellationToken),
                await reader.ReadStringListAsync("the required features", cancellationToken));
            var decision = budget.Apply(candidate.DrvPath, await farm.DecideAsync(candidate, cancellationToken));
            switch (decision.Verdict)
            {
                case HookVerdict.Decline:
                    // Shown by the daemon as is: with --max-jobs 0 this line is what names the missing machine.
                    await WriteLinesAsync(stderr, cancellationToken, $"buildfarm: {candidate.DrvPath}: {decision.Reason}", "# decline");
                    continue;
                case HookVerdict.Postpone:
                    await WriteLinesAsync(stderr, cancellationToken, "# postpone");
                    continue;
            }

            await WriteLinesAsync(stderr, cancellationToken, "# accept", decision.Machine);
            _ = await reader.ReadStringListAsync("the input paths", cancellationToken);
            var wanted = await reader.ReadStringListAsync("the wanted outputs", cancellationToken);
            var result = await farm.BuildAsync(candidate.DrvPath, wanted, log, cancellationToken);
            if (result.Outcome != HookOutcome.Built)
                await WriteLinesAsync(log, cancellationToken, $"buildfarm: {result.Message}");
            return result.ExitCode;
        }
    }

    private async Task ReadSettingsAsync(NixWireReader reader, CancellationToken cancellationToken)
    {
        while (await reader.ReadU64Async("the end of the settings", cancellationToken) != 0)
        {
            var name = await reader.ReadStringAsync("a setting name", cancellationToken);
            _settings[name] = await reader.ReadStringAsync($"the value of setting '{name}'", cancellationToken);
        }
    }

    /// <summary>A command whose length word was already read (to tell a clean end of stdin from a message).</summary>
    private static async Task<string> ReadTailAsync(NixWireReader reader, ulong length, CancellationToken cancellationToken)
    {
        if (length > 64)
            throw new InvalidDataException($"the daemon sent a {length}-byte command where the hook expects 'try'");
        return await reader.ReadStringBodyAsync(length, "the command", cancellationToken);
    }

    internal static async Task WriteLinesAsync(Stream stream, CancellationToken cancellationToken, params string[] lines)
    {
        var text = string.Concat(lines.Select(l => l + "\n"));
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }
}
