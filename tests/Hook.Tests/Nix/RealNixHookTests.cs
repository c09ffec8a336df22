using BuildFarm.Hook.Farm;
using BuildFarm.Testing;

namespace BuildFarm.Hook.Tests.Nix;

/// <summary>
/// The real nix-build (Nix 2.8) runs the real <c>buildfarm nix-hook</c> as its build-hook, with <c>--max-jobs 0</c>
/// so that only the hook can build. The dispatcher is scripted (<see cref="FakeDispatcher"/>): these tests pin the
/// protocol and the user-visible messages; the farm's decisions have their own tests (HookDeciderTests).
/// </summary>
public sealed class RealNixHookTests : IDisposable
{
    private readonly TempDirectory _dir = new("nixhook");

    public void Dispose() => _dir.Dispose();

    private async Task<string> HookScriptAsync()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "buildfarm.dll");
        Assert.True(File.Exists(dll), $"{dll} missing: the test project references the dispatcher to get it");
        var script = Path.Combine(_dir.Path, "nix-hook");
        // Nix 2.8 execs build-hook as a path with argv = [basename, verbosity]: a script adds the subcommand.
        await File.WriteAllTextAsync(script, $"#!/bin/sh\nexec '{Dotnet()}' '{dll}' nix-hook \"$@\"\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        return script;
    }

    private static string Dotnet() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "/usr/bin/dotnet";

    /// <summary>An expression of one derivation, unique per test (the store is the machine's /nix/store).</summary>
    private async Task<string> ExpressionAsync(string system, string script)
    {
        var bb = Path.Combine(_dir.Path, "bb", "bin");
        Directory.CreateDirectory(bb);
        File.Copy("/usr/bin/busybox", Path.Combine(bb, "busybox"));
        File.CreateSymbolicLink(Path.Combine(bb, "sh"), "busybox");
        var busybox = (await ProcessRunner.RunAsync("nix-store", ["--add", Path.GetDirectoryName(bb)!])).EnsureSuccess("nix-store --add").Stdout.Trim();
        var nonce = Guid.NewGuid().ToString("N")[..12];
        var file = Path.Combine(_dir.Path, "default.nix");
        await File.WriteAllTextAsync(file,
            $"derivation {{ name = \"hooktest-{nonce}\"; system = \"{system}\"; builder = builtins.storePath {busybox} + \"/bin/sh\"; args = [\"-c\" \"{script}\"]; }}\n");
        return file;
    }

    private async Task<ProcessResult> NixBuildAsync(string expression, string url, string postponeLimit = "120") =>
        await ProcessRunner.RunAsync("nix-build", [expression, "--no-out-link", "--max-jobs", "0", "--option", "build-hook", await HookScriptAsync(), "--option", "substituters", ""],
            environment: new Dictionary<string, string>
            {
                ["BUILDFARM_URL"] = url,
                ["BUILDFARM_HOOK_CONFIG"] = Path.Combine(_dir.Path, "no-hook.json"),
                ["BUILDFARM_HOOK_POSTPONE_LIMIT"] = postponeLimit,
            },
            timeout: TimeSpan.FromMinutes(2));

    [Fact]
    public async Task NixBuild_ImpossibleSystem_HookDeclinesAndNixSaysWhy()
    {
        using var farm = new FakeDispatcher(r => new HookDecideResponse("decline", "", $"no machine can build system {r.System} with no required features; machines that exist: w1"));

        var result = await NixBuildAsync(await ExpressionAsync("mips64el-linux", "echo x > $out"), farm.Url);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("no machine can build system mips64el-linux", result.Stderr, StringComparison.Ordinal);
        var asked = Assert.Single(farm.Decisions);
        Assert.Equal("mips64el-linux", asked.System);
        Assert.EndsWith(".drv", asked.DrvPath, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_DispatcherUnreachable_HookDeclinesNamingTheUrl()
    {
        var url = $"http://127.0.0.1:{FreePort.Next()}";

        var result = await NixBuildAsync(await ExpressionAsync("x86_64-linux", "echo x > $out"), url);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"cannot reach the dispatcher at {url}", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_FarmAlwaysBusy_PostponesThenDeclinesAfterTheLimit()
    {
        using var farm = new FakeDispatcher(_ => new HookDecideResponse("postpone", "", "all 1 slot(s) of the capable workers (w2) are taken"));

        var result = await NixBuildAsync(await ExpressionAsync("x86_64-linux", "echo x > $out"), farm.Url, postponeLimit: "3");

        Assert.NotEqual(0, result.ExitCode);
        Assert.True(farm.Decisions.Count >= 2, $"nix asked {farm.Decisions.Count} time(s); a postpone should make it ask again");
        Assert.Contains("declined after postponing for", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("are taken", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_FarmBuildFails_NixReportsBuilderFailedWithTheFarmLog()
    {
        using var farm = new FakeDispatcher(
            _ => new HookDecideResponse("accept", "buildfarm/w1", "free"),
            async response =>
            {
                await FakeDispatcher.WriteEventAsync(response, new HookBuildEvent("compiling on w1\nerror: it broke\n", null));
                await FakeDispatcher.WriteEventAsync(response, new HookBuildEvent(null, new HookBuildEnd(Guid.NewGuid(), "failed", "BuildFailure", "builder exited with code 2", "w1", [])));
            });

        var result = await NixBuildAsync(await ExpressionAsync("x86_64-linux", "exit 2"), farm.Url);

        Assert.Equal(100, result.ExitCode);
        Assert.Matches("builder for '/nix/store/[a-z0-9]{32}-hooktest-[0-9a-f]{12}.drv' failed with exit code 100", result.Stderr);
        Assert.Contains("on 'buildfarm/w1'", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("error: it broke", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("builder exited with code 2", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_InterruptedWithCtrlC_DaemonKillsTheHookAndItsBuildStreamCloses()
    {
        var streaming = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var farm = new FakeDispatcher(
            _ => new HookDecideResponse("accept", "buildfarm/w1", "free"),
            async response =>
            {
                for (var i = 0; i < 600; i++)
                {
                    await FakeDispatcher.WriteEventAsync(response, new HookBuildEvent($"tick {i}\n", null));
                    streaming.TrySetResult();
                    await Task.Delay(100);
                }
            });
        var expression = await ExpressionAsync("x86_64-linux", "sleep 60");
        var start = new System.Diagnostics.ProcessStartInfo("nix-build") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { expression, "--no-out-link", "--max-jobs", "0", "--option", "build-hook", await HookScriptAsync(), "--option", "substituters", "" })
            start.ArgumentList.Add(a);
        start.Environment["BUILDFARM_URL"] = farm.Url;
        start.Environment["BUILDFARM_HOOK_CONFIG"] = Path.Combine(_dir.Path, "no-hook.json");
        using var nix = System.Diagnostics.Process.Start(start)!;
        var stderr = nix.StandardError.ReadToEndAsync();

        await streaming.Task.WaitAsync(TimeSpan.FromSeconds(60));
        (await ProcessRunner.RunAsync("kill", ["-INT", nix.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])).EnsureSuccess("kill -INT nix-build");

        // The daemon SIGKILLs the hook's process group: the only sign the farm gets is the stream closing.
        await farm.StreamBroken.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await nix.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.NotEqual(0, nix.ExitCode);
        Assert.Contains("interrupted by the user", await stderr, StringComparison.Ordinal);
    }
}
