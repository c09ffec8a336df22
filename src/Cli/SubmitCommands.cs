using BuildFarm.Store.Derivations;
using System.CommandLine;
using System.Globalization;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Cli.Api;
using BuildFarm.Store.Paths;

namespace BuildFarm.Cli;

/// <summary>
/// <c>buildfarm submit FILE.drv</c>: submits one derivation (inputs assumed present on the worker), streams its log
/// to stderr, prints output paths on stdout. Exit 0 built, 100 build failure, 101 timeout, 1 anything else —
/// the codes of Nix's build hook protocol.
/// </summary>
internal static class SubmitCommands
{
    public static Command Create(CliGlobals globals)
    {
        var file = new Argument<string>("drv") { Description = ".drv file, or its logical store path (read from the store's root)" };
        var priority = new Option<int>("--priority") { Description = "Recorded and shown; orders only the dispatcher's own publishing (higher first), not builds already queued" };
        var wait = new Option<bool>("--wait-for-capacity") { Description = "Queue even when no known worker can build it" };
        var timeout = new Option<double>("--timeout") { Description = "Build timeout in seconds (0 = none)" };
        var silent = new Option<double>("--max-silent-time") { Description = "Seconds without log output before the build is killed (0 = none)" };
        var trusted = new Option<bool>("--trusted") { Description = "You trust this derivation: it may also run on a worker without a sandbox (AllowUnsandboxed)" };
        var command = new Command("submit", "Submit a derivation to the dispatcher, wait, and stream its log") { file, priority, wait, timeout, silent, trusted };
        var endpoint = DispatcherClient.AddOptions(command);
        command.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "submit", async () =>
        {
            var (drvPath, drvText) = await ReadDrvAsync(globals.Layout(result), result.GetValue(file)!, ct);
            using var client = DispatcherClient.Connect(result, endpoint);
            var body = new SubmitBuildBody(drvPath, drvText, result.GetValue(priority), result.GetValue(wait), result.GetValue(timeout), result.GetValue(silent),
                result.GetValue(trusted));
            return await RunAsync(client, body, result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, ct);
        }));
        return command;
    }

    private static async Task<(string? Path, string Text)> ReadDrvAsync(StoreLayout layout, string arg, CancellationToken ct)
    {
        if (File.Exists(arg))
        {
            var full = Path.GetFullPath(arg);
            var text = DrvText.FromBytes(await File.ReadAllBytesAsync(full, ct));
            // A file inside the store (physical or logical) keeps its store path; any other file is sent as text only.
            var baseName = Path.GetFileName(full);
            var inStore = Path.GetDirectoryName(full) == layout.PhysicalStoreDir || Path.GetDirectoryName(full) == layout.StoreDir.Path;
            return (inStore ? layout.StoreDir.Path + "/" + baseName : null, text);
        }

        if (StorePath.TryParse(layout.StoreDir, arg, out var path, out _))
        {
            var physical = layout.PhysicalPath(path!);
            if (File.Exists(physical))
                return (path!.FullPath, DrvText.FromBytes(await File.ReadAllBytesAsync(physical, ct)));
            throw new CliError($"{arg}: not at {physical} (store root {layout.Root}; --root/--store-dir)");
        }

        throw new CliError($"{arg}: no such file, and not a path in store {layout.StoreDir.Path}");
    }

    private static async Task<int> RunAsync(DispatcherClient client, SubmitBuildBody body, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var (accepted, error) = await client.SubmitAsync(body, ct);
        if (accepted is null)
        {
            await stderr.WriteLineAsync($"buildfarm submit: refused: {error}");
            return 1;
        }

        await stderr.WriteLineAsync($"buildfarm: build {accepted.Id} {accepted.State}{(accepted.WaitingReason is null ? "" : " (" + accepted.WaitingReason + ")")}");
        long cursor = 0;
        string? lastNote = accepted.WaitingReason;
        while (true)
        {
            var log = await client.LogAsync(accepted.Id, cursor, ct);
            foreach (var chunk in log.Chunks)
                await stderr.WriteAsync(chunk.Text);
            cursor = log.Next;
            if (log.Chunks.Count == 1000)
                continue;
            var build = await client.GetBuildAsync(accepted.Id, ct);
            if (build.State is "succeeded" or "failed" or "cancelled")
            {
                var rest = await client.LogAsync(accepted.Id, cursor, ct);
                foreach (var chunk in rest.Chunks)
                    await stderr.WriteAsync(chunk.Text);
                return await FinishAsync(build, stdout, stderr);
            }

            var note = build.State == "running" ? $"running on {build.Worker} (attempt {build.Attempt})" : build.WaitingReason;
            if (note is not null && note != lastNote)
            {
                await stderr.WriteLineAsync($"buildfarm: {note}");
                lastNote = note;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
        }
    }

    private static async Task<int> FinishAsync(BuildView build, TextWriter stdout, TextWriter stderr)
    {
        switch (build.State)
        {
            case "succeeded":
                foreach (var o in build.Outputs)
                    await stdout.WriteLineAsync(o.Path);
                await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"buildfarm: {build.DrvPath} built on {build.Worker} (attempt {build.Attempt})"));
                return 0;
            case "failed":
                await stderr.WriteLineAsync($"buildfarm: {build.DrvPath} failed: {build.FailureReason}");
                return build.FailureKind switch { "BuildFailure" => 100, "Timeout" => 101, _ => 1 };
            default:
                await stderr.WriteLineAsync($"buildfarm: {build.DrvPath} was cancelled: {build.FailureReason}");
                return 1;
        }
    }
}
