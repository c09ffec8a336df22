using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Hook.Farm;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Hook;

/// <summary>
/// Issue 13's proof: the real nix-build (and nix-daemon) of Nix 2.8 hand every build to the farm through
/// <c>buildfarm nix-hook</c>, with <c>--max-jobs 0</c> so that nothing can be built locally; the farm's origin is the
/// real /nix/store and the outputs come back valid in it, signed by the worker that built them.
/// </summary>
[Collection(NixHookFarmDefinition.Name)]
public sealed class NixHookTests(NixHookFarmFixture farm)
{
    private static readonly string[] HookOptions = ["--max-jobs", "0", "--option", "substituters", "", "--no-out-link"];

    /// <summary>
    /// Four levels: a fixed-output derivation, a two-output derivation reading it, a kvm derivation reading the
    /// second output, and a top reading both; names carry <paramref name="nonce"/> (the store is shared).
    /// </summary>
    private string GraphExpression(string nonce)
    {
        var fixedHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("fixed\n")));
        var file = Path.Combine(farm.Scratch(nonce), "graph.nix");
        File.WriteAllText(file, $$"""
            let
              sh = builtins.storePath {{farm.Busybox}} + "/bin/sh";
              mk = name: attrs: derivation ({ name = "${name}-{{nonce}}"; system = "x86_64-linux"; builder = sh; } // attrs);
            in rec {
              fod = mk "fod" { args = [ "-c" "echo fixed > $out" ]; outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = "{{fixedHash}}"; };
              multi = mk "multi" { outputs = [ "out" "dev" ]; args = [ "-c" "read x < ${fod}; echo $x-out > $out; echo $x-dev > $dev" ]; };
              kvm = mk "kvm" { requiredSystemFeatures = [ "kvm" ]; args = [ "-c" "read x < ${multi.dev}; echo $x-kvm > $out" ]; };
              top = mk "top" { args = [ "-c" "read a < ${kvm}; read b < ${multi}; echo building top; echo $a $b > $out" ]; };
              impossible = derivation { name = "impossible-{{nonce}}"; system = "mips64el-linux"; builder = sh; args = [ "-c" "echo no > $out" ]; };
              lone = mk "lone" { args = [ "-c" "echo lone > $out" ]; };
              failing = mk "failing" { args = [ "-c" "echo about to fail on the farm; exit 3" ]; };
              slow = mk "slow" { args = [ "-c" "echo slow started; sleep 60; echo x > $out" ]; };
              busy = builtins.listToAttrs (map (i: { name = "b${toString i}"; value = mk "busy${toString i}" { args = [ "-c" "sleep 2; echo ${toString i} > $out" ]; }; }) [ 1 2 3 ]);
            }
            """);
        return file;
    }

    private static string Nonce() => Guid.NewGuid().ToString("N")[..10];

    private Task<ProcessResult> NixBuildAsync(string expression, string attribute, IDictionary<string, string>? env = null, params string[] extra) =>
        ProcessRunner.RunAsync("nix-build", [expression, "-A", attribute, .. HookOptions, "--option", "build-hook", farm.HookScript, .. extra],
            environment: env, timeout: TimeSpan.FromMinutes(4));

    private static async Task<string> DrvAsync(string expression, string attribute) =>
        await NixOracle.RunTextAsync("nix-instantiate", expression, "-A", attribute);

    private static async Task<IReadOnlyList<string>> OutputsAsync(string drv) =>
        (await NixOracle.RunTextAsync("nix-store", "-q", "--outputs", drv)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task NixBuild_FourLevelGraphThroughTheHook_EveryDerivationBuiltByWorkersAndOutputsValidSignedAndAsNixBuildsThem()
    {
        var nonce = Nonce();
        var expression = GraphExpression(nonce);
        var drvs = new Dictionary<string, string>();
        foreach (var a in new[] { "fod", "multi", "kvm", "top" })
            drvs[a] = await DrvAsync(expression, a);

        var result = await NixBuildAsync(expression, "top");

        Assert.True(result.ExitCode == 0, $"nix-build exited {result.ExitCode}:\n{result.Stderr}\n{farm.DiagnosticText()}");
        Assert.Contains("on 'buildfarm[", result.Stderr, StringComparison.Ordinal);
        var builds = await farm.BuildsAsync();
        foreach (var (attribute, drv) in drvs)
        {
            var build = Assert.Single(builds, b => b.DrvPath == drv);
            Assert.Equal("succeeded", build.State);
            Assert.Equal(attribute == "kvm" ? "kvm" : "plain", build.Worker);
        }

        var outputs = new List<string>();
        foreach (var drv in drvs.Values)
            outputs.AddRange(await OutputsAsync(drv));
        Assert.Equal(5, outputs.Count);
        var farmNars = new Dictionary<string, byte[]>();
        foreach (var path in outputs)
        {
            (await ProcessRunner.RunAsync("nix-store", ["--verify-path", path])).EnsureSuccess($"nix-store --verify-path {path}");
            var sigs = await NixOracle.RunTextAsync("nix", "path-info", "--sigs", path);
            Assert.Contains(path.Contains("-kvm-", StringComparison.Ordinal) ? "hook-kvm-1:" : "hook-plain-1:", sigs, StringComparison.Ordinal);
            farmNars[path] = await NixOracle.DumpAsync(path);
        }

        // The same expression built by Nix itself: delete the farm's outputs, build locally, compare the NARs.
        (await ProcessRunner.RunAsync("nix-store", ["--delete", .. outputs])).EnsureSuccess("nix-store --delete of the farm's outputs");
        Assert.False(Directory.Exists(outputs[0]), $"{outputs[0]} still exists after nix-store --delete");
        (await ProcessRunner.RunAsync("nix-build", [expression, "-A", "top", "--no-out-link", "--max-jobs", "1", "--option", "substituters", "", "--option", "system-features", "kvm"],
            timeout: TimeSpan.FromMinutes(2))).EnsureSuccess("local nix-build");
        foreach (var path in outputs)
        {
            var local = await NixOracle.DumpAsync(path);
            Assert.True(farmNars[path].SequenceEqual(local), $"{path}: the farm's NAR differs from Nix's own build");
        }
    }

    [Fact]
    public async Task NixDaemonWithBuildHook_ClientOverDaemonSocket_BuildsOnTheFarmAndOutputsAreValid()
    {
        var nonce = Nonce();
        var expression = GraphExpression(nonce);
        var socket = Path.Combine(farm.Scratch(nonce), "daemon-socket");
        using var daemon = ChildProcess.Start("nix-daemon", "nix-daemon", [], new Dictionary<string, string>
        {
            ["NIX_DAEMON_SOCKET_PATH"] = socket,
            ["NIX_CONFIG"] = $"build-hook = {farm.HookScript}\nmax-jobs = 0\nsubstituters =\n",
        });
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!File.Exists(socket))
        {
            Assert.False(daemon.HasExited || DateTime.UtcNow > deadline, $"nix-daemon did not create {socket}: {daemon.Output}");
            await Task.Delay(100);
        }

        var top = await DrvAsync(expression, "top");
        var result = await ProcessRunner.RunAsync("nix-build", [expression, "-A", "top", "--no-out-link"],
            environment: new Dictionary<string, string> { ["NIX_REMOTE"] = "daemon", ["NIX_DAEMON_SOCKET_PATH"] = socket }, timeout: TimeSpan.FromMinutes(4));

        Assert.True(result.ExitCode == 0, $"nix-build via nix-daemon exited {result.ExitCode}:\n{result.Stderr}\n== nix-daemon\n{daemon.Output}\n{farm.DiagnosticText()}");
        var builds = await farm.BuildsAsync();
        Assert.Equal("succeeded", Assert.Single(builds, b => b.DrvPath == top).State);
        Assert.Equal(4, builds.Count(b => b.DrvPath.Contains(nonce, StringComparison.Ordinal) && b.State == "succeeded"));
        var output = result.Stdout.Trim();
        (await ProcessRunner.RunAsync("nix-store", ["--verify-path", output])).EnsureSuccess("nix-store --verify-path");
        Assert.Contains("hook-plain-1:", await NixOracle.RunTextAsync("nix", "path-info", "--sigs", output), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_SystemNoWorkerHas_IsDeclinedAndNixSaysWhichSystem()
    {
        var expression = GraphExpression(Nonce());

        var result = await NixBuildAsync(expression, "impossible");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("no machine can build system mips64el-linux", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("plain (systems x86_64-linux", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_BuildHookIsTheNativeSymlink_BuildsOnTheFarmWithoutAScript()
    {
        // Nix execs build-hook with argv [basename, verbosity]: the NativeAOT hook dispatches on its name.
        var symlink = Path.Combine(RepoPaths.Bin, "buildfarm-nix-hook");
        var expression = GraphExpression(Nonce());

        var result = await ProcessRunner.RunAsync("nix-build", [expression, "-A", "lone", .. HookOptions, "--option", "build-hook", symlink],
            environment: new Dictionary<string, string> { ["BUILDFARM_HOOK_CONFIG"] = farm.HookConfig }, timeout: TimeSpan.FromMinutes(4));

        Assert.True(result.ExitCode == 0, $"nix-build exited {result.ExitCode}:\n{result.Stderr}");
        Assert.Contains("on 'buildfarm[", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("lone", (await File.ReadAllTextAsync(result.Stdout.Trim())).Trim());
        var drv = await DrvAsync(expression, "lone");
        Assert.Equal("succeeded", Assert.Single(await farm.BuildsAsync(), b => b.DrvPath == drv).State);
    }

    [Fact]
    public async Task NixBuild_MoreBuildsThanFreeSlots_PostponesThenBuildsThemAll()
    {
        var expression = GraphExpression(Nonce());

        var result = await NixBuildAsync(expression, "busy");

        Assert.True(result.ExitCode == 0, $"nix-build exited {result.ExitCode}:\n{result.Stderr}");
        // The plain worker has one slot: Nix's own words for a postponed build.
        Assert.Contains("waiting for a machine to build", result.Stderr, StringComparison.Ordinal);
        Assert.Equal(3, result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Decide_WhileTheOnlyCapableSlotIsTaken_AnswersPostpone()
    {
        var expression = GraphExpression(Nonce());
        var slow = await DrvAsync(expression, "slow");
        var nixBuild = NixBuildAsync(expression, "slow");
        await WaitForStateAsync(slow, "running");

        using var response = await farm.Api.PostAsJsonAsync("api/hook/decide", new HookDecideRequest("x86_64-linux", [], null));
        var decision = await response.Content.ReadFromJsonAsync<HookDecideResponse>();

        Assert.Equal("postpone", decision!.Verdict);
        Assert.Contains("plain", decision.Reason, StringComparison.Ordinal);
        using var cancel = await farm.Api.PostAsync(new Uri($"api/builds/{(await BuildOfAsync(slow))!.Id}/cancel", UriKind.Relative), null);
        Assert.NotEqual(0, (await nixBuild).ExitCode);
    }

    [Fact]
    public async Task NixBuild_BuilderFailsOnTheFarm_NixReportsBuilderFailedWithTheFarmLog()
    {
        var expression = GraphExpression(Nonce());

        var result = await NixBuildAsync(expression, "failing");

        Assert.Equal(100, result.ExitCode);
        Assert.Matches("builder for '/nix/store/[a-z0-9]{32}-failing-[0-9a-f]{10}.drv' failed with exit code 100", result.Stderr);
        Assert.Contains("about to fail on the farm", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_InterruptedWithCtrlC_FarmBuildIsCancelled()
    {
        var expression = GraphExpression(Nonce());
        var slow = await DrvAsync(expression, "slow");
        var start = new System.Diagnostics.ProcessStartInfo("nix-build") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in (string[])[expression, "-A", "slow", .. HookOptions, "--option", "build-hook", farm.HookScript])
            start.ArgumentList.Add(a);
        using var nix = System.Diagnostics.Process.Start(start)!;
        var stderr = nix.StandardError.ReadToEndAsync();
        await WaitForStateAsync(slow, "running");

        (await ProcessRunner.RunAsync("kill", ["-INT", nix.Id.ToString(CultureInfo.InvariantCulture)])).EnsureSuccess("kill -INT nix-build");

        var cancelled = await WaitForStateAsync(slow, "cancelled");
        Assert.Contains("build hook", cancelled.FailureReason, StringComparison.Ordinal);
        await nix.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("interrupted by the user", await stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixBuild_BrokerDown_PostponedThenDeclinedAfterThePostponeLimit()
    {
        var expression = GraphExpression(Nonce());
        var lone = await DrvAsync(expression, "lone");
        await farm.Broker.StopAsync();
        try
        {
            await WaitForDecisionAsync(d => d.Verdict == "postpone" && d.Reason.Contains("broker", StringComparison.Ordinal), "postpone naming the broker");

            var result = await NixBuildAsync(expression, "lone", new Dictionary<string, string> { ["BUILDFARM_HOOK_POSTPONE_LIMIT"] = "3" });

            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("waiting for a machine to build", result.Stderr, StringComparison.Ordinal);
            Assert.Contains("declined after postponing for", result.Stderr, StringComparison.Ordinal);
            Assert.Contains("broker", result.Stderr, StringComparison.Ordinal);
            Assert.Null(await BuildOfAsync(lone));
        }
        finally
        {
            await farm.Broker.StartAsync();
            // The farm is shared: the next test needs the workers back.
            await WaitForDecisionAsync(d => d.Verdict == "accept", "accept once the broker is back", TimeSpan.FromSeconds(120));
        }
    }

    private async Task<HookDecideResponse> WaitForDecisionAsync(Func<HookDecideResponse, bool> wanted, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        HookDecideResponse? last = null;
        while (DateTime.UtcNow < deadline)
        {
            using var response = await farm.Api.PostAsJsonAsync("api/hook/decide", new HookDecideRequest("x86_64-linux", [], null));
            last = await response.Content.ReadFromJsonAsync<HookDecideResponse>();
            if (last is not null && wanted(last))
                return last;
            await Task.Delay(250);
        }

        throw new TimeoutException($"/api/hook/decide did not answer {what} (last: {last})\n{farm.DiagnosticText()}");
    }

    private async Task<BuildView?> BuildOfAsync(string drv) => (await farm.BuildsAsync()).FirstOrDefault(b => b.DrvPath == drv);

    private async Task<BuildView> WaitForStateAsync(string drv, string state)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            if (await BuildOfAsync(drv) is { } b && b.State == state)
                return b;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"build of {drv} did not become {state} within 90 s (now: {(await BuildOfAsync(drv))?.State ?? "no build"})\n{farm.DiagnosticText()}");
            await Task.Delay(200);
        }
    }
}
