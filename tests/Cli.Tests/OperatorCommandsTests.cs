using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Tests.Ui;
using BuildFarm.Messaging.Routing;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests;

/// <summary>The operator commands against the real dispatcher web app on loopback Kestrel over a seeded SQLite DB.</summary>
public sealed class OperatorCommandsTests
{
    private const string Out = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-out";
    private const string NarHash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";

    [Fact]
    public async Task Status_SeededFarm_ListsWorkersClassesAndRunningBuilds()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux", slots: 2));
        await h.HeartbeatAsync("w2", UiHarness.Caps("aarch64-linux", slots: 4));
        var a = await h.SubmitAsync("hello");
        await h.SubmitAsync("queued-one");
        await h.StartBuildAsync(a, "w1");

        var r = await CliRun.RunAsync("status", "--url", h.BaseUrl);

        Assert.Equal(0, r.ExitCode);
        var lines = r.StdoutText.Split('\n');
        var w1 = Assert.Single(lines, l => l.StartsWith("w1 ", StringComparison.Ordinal));
        Assert.Contains("online", w1);
        Assert.Contains("x86_64-linux", w1);
        Assert.Contains("kvm", w1);
        Assert.Contains("1/2", w1);
        Assert.Contains("s ago", w1);
        Assert.Contains("0/4", Assert.Single(lines, l => l.StartsWith("w2 ", StringComparison.Ordinal)));
        var cls = Assert.Single(lines, l => l.StartsWith("x86_64-linux ", StringComparison.Ordinal));
        Assert.Matches(@"^x86_64-linux\s+1\s+1\s+w1", cls);
        Assert.Contains(lines, l => l.StartsWith(a.ToString(), StringComparison.Ordinal) && l.Contains("hello.drv", StringComparison.Ordinal) && l.Contains("w1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Status_WorkerPausedItselfWithItsClockBehind_SaysWhyAndTheClock()
    {
        await using var h = await UiHarness.StartAsync();
        await h.PausedHeartbeatAsync("w2", UiHarness.Caps("x86_64-linux"), "paused itself: disk full: 0 bytes free on /w2/store", TimeSpan.FromMinutes(-5));

        var r = await CliRun.RunAsync("status", "--url", h.BaseUrl);

        Assert.Equal(0, r.ExitCode);
        var lines = r.StdoutText.Split('\n');
        Assert.Contains("paused", Assert.Single(lines, l => l.StartsWith("w2 ", StringComparison.Ordinal)));
        Assert.Contains("note: w2 is paused: paused itself: disk full: 0 bytes free on /w2/store", lines);
        Assert.Single(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^warning: w2's clock is 30\d s behind the dispatcher's$"));
    }

    [Fact]
    public async Task Status_Recent_ListsFinishedBuildsWithTheirWorkerAndState()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var done = await h.SubmitAsync("done-one");
        await h.StartBuildAsync(done, "w1");
        await h.SucceedAsync(done, "w1");
        await h.SubmitAsync("waiting-one");

        var without = await CliRun.RunAsync("status", "--url", h.BaseUrl);
        var with = await CliRun.RunAsync("status", "--url", h.BaseUrl, "--recent", "5");

        Assert.Equal(0, with.ExitCode);
        Assert.DoesNotContain("recent builds", without.StdoutText, StringComparison.Ordinal);
        Assert.Contains("recent builds (2, newest first):", with.StdoutText, StringComparison.Ordinal);
        var lines = with.StdoutText.Split('\n');
        Assert.Matches(@"-done-one\.drv\s+succeeded\s+w1\s+-\s+1\s", Assert.Single(lines, l => l.Contains("-done-one.drv", StringComparison.Ordinal)));
        Assert.Matches(@"-waiting-one\.drv\s+\w+\s+-\s", Assert.Single(lines, l => l.Contains("-waiting-one.drv", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Status_UnsandboxedWorker_SaysSoWithTheReason_AndHowTheBuildRuns()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("bare", TrustedRouting.Declared(UiHarness.Caps("x86_64-linux"), BuildIsolation.Unsandboxed),
            new WorkerIsolation(BuildIsolation.Unsandboxed, "bwrap /nope/bwrap does not exist"));
        await h.HeartbeatAsync("boxed", TrustedRouting.Declared(UiHarness.Caps("x86_64-linux"), BuildIsolation.Sandboxed),
            new WorkerIsolation(BuildIsolation.Sandboxed, "ok"));
        var id = await h.SubmitAsync("trusted-one", trusted: true);
        await h.StartBuildAsync(id, "bare", BuildIsolation.Unsandboxed);

        var r = await CliRun.RunAsync("status", "--url", h.BaseUrl);

        Assert.Equal(0, r.ExitCode);
        var lines = r.StdoutText.Split('\n');
        Assert.Contains("BUILDS RUN", Assert.Single(lines, l => l.StartsWith("NAME ", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Matches(@"^bare\s+online\s+unsandboxed\s+x86_64-linux\s+kvm\s+-\s", Assert.Single(lines, l => l.StartsWith("bare ", StringComparison.Ordinal)));
        Assert.Matches(@"^boxed\s+online\s+sandboxed\s+x86_64-linux\s+kvm\s+-\s", Assert.Single(lines, l => l.StartsWith("boxed ", StringComparison.Ordinal)));
        Assert.Contains("warning: bare runs builds UNSANDBOXED and takes only builds submitted with --trusted: bwrap /nope/bwrap does not exist", lines);
        Assert.DoesNotContain(lines, l => l.Contains("warning: boxed", StringComparison.Ordinal));
        Assert.Contains("unsandboxed (trusted)", Assert.Single(lines, l => l.StartsWith(id.ToString(), StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_DispatcherUnreachable_ExitsNonZeroNamingTheUrl()
    {
        var r = await CliRun.RunAsync("status", "--url", "http://127.0.0.1:9");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("cannot reach the dispatcher at http://127.0.0.1:9", r.Stderr);
    }

    [Fact]
    public async Task Status_TokenConfigured_NeedsTheTokenAndWorksWithIt()
    {
        await using var h = await UiHarness.StartAsync("s3cret");
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));

        var without = await CliRun.RunAsync("status", "--url", h.BaseUrl);
        var with = await CliRun.RunAsync("status", "--url", h.BaseUrl, "--token", "s3cret");

        Assert.Equal(1, without.ExitCode);
        Assert.Contains("401", without.Stderr);
        Assert.Contains("--token", without.Stderr);
        Assert.Equal(0, with.ExitCode);
        Assert.Contains("w1", with.StdoutText);
    }

    [Fact]
    public void Token_FromEitherDispatcherVariable_CanonicalNameWins()
    {
        Assert.Equal("a", BuildFarm.Cli.FarmEnv.Token(new Dictionary<string, string> { ["BUILDFARM_UI__TOKEN"] = "a" }));
        Assert.Equal("b", BuildFarm.Cli.FarmEnv.Token(new Dictionary<string, string> { ["BUILDFARM_Ui__Token"] = "a", ["BUILDFARM_DISPATCHER__Ui__Token"] = "b" }));
        Assert.Null(BuildFarm.Cli.FarmEnv.Token(new Dictionary<string, string> { ["BUILDFARM_UI__TOKEN"] = "" }));
    }

    [Fact]
    public async Task Submit_TokenConfigured_SendsTheBearerToken()
    {
        await using var h = await UiHarness.StartAsync("s3cret");
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        using var dir = new TempDirectory("submit");
        var drv = dir.Combine("x.drv");
        await File.WriteAllTextAsync(drv,
            "Derive([(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\",\"\",\"\")],[],[],\"riscv64-linux\",\"/bin/sh\",[],"
            + "[(\"name\",\"x\"),(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\")])");

        var without = await CliRun.RunAsync("submit", drv, "--url", h.BaseUrl);
        var with = await CliRun.RunAsync("submit", drv, "--url", h.BaseUrl, "--token", "s3cret");

        Assert.Equal(1, without.ExitCode);
        Assert.Contains("401", without.Stderr);
        // Past auth: the dispatcher itself answers, refusing a system no worker has.
        Assert.Equal(1, with.ExitCode);
        Assert.Contains("refused", with.Stderr);
        Assert.Contains("riscv64-linux", with.Stderr);
    }

    [Fact]
    public async Task Submit_Trusted_OnlyAnUnsandboxedWorker_RefusedWithoutAcceptedWith()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("bare", TrustedRouting.Declared(UiHarness.Caps("riscv64-linux"), BuildIsolation.Unsandboxed),
            new WorkerIsolation(BuildIsolation.Unsandboxed, "no bwrap"));
        using var dir = new TempDirectory("submit-trusted");
        var drv = dir.Combine("x.drv");
        await File.WriteAllTextAsync(drv,
            "Derive([(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\",\"\",\"\")],[],[],\"riscv64-linux\",\"/bin/sh\",[],"
            + "[(\"name\",\"x\"),(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\")])");

        var untrusted = await CliRun.RunAsync("submit", drv, "--url", h.BaseUrl);
        var trusted = CliRun.RunAsync("submit", drv, "--trusted", "--url", h.BaseUrl);
        BuildRecord? stored = null;
        for (var i = 0; i < 300 && stored is null; i++)
        {
            stored = (await h.Db.RunAsync(s => BuildTable.RecentAsync(s, 1), CancellationToken.None)).SingleOrDefault();
            if (stored is null)
                await Task.Delay(100);
        }

        Assert.NotNull(stored);
        await h.Lifecycle.CancelAsync(stored.Id, "test over", CancellationToken.None);
        var accepted = await trusted;

        Assert.Equal(1, untrusted.ExitCode);
        Assert.Contains("mandatory buildfarm-trusted", untrusted.Stderr, StringComparison.Ordinal);
        Assert.True(stored.Trusted);
        Assert.Contains($"build {stored.Id} queued", accepted.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_TokenConfigured_SendsTheBearerToken()
    {
        await using var h = await UiHarness.StartAsync("s3cret");
        var missing = "/nix/store/" + new string('3', 32) + "-gone.drv";

        var without = await CliRun.RunAsync("build", missing, "--url", h.BaseUrl);
        var with = await CliRun.RunAsync("build", missing, "--url", h.BaseUrl, "--token", "s3cret");

        Assert.Equal(1, without.ExitCode);
        Assert.Contains("401", without.Stderr);
        // Past auth: the dispatcher itself answers, refusing a target its origin store lacks.
        Assert.Equal(1, with.ExitCode);
        Assert.Contains("refused", with.Stderr);
        Assert.Contains(missing, with.Stderr);
    }

    [Fact]
    public async Task Log_FinishedBuild_PrintsTheStoredLog()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        await h.LogAsync(id, "w1", 1, "configuring\n");
        await h.LogAsync(id, "w1", 2, "building\n");
        await h.SucceedAsync(id, "w1");

        var r = await CliRun.RunAsync("log", id.ToString(), "--url", h.BaseUrl);

        Assert.Equal(0, r.ExitCode);
        Assert.Equal("configuring\nbuilding", r.StdoutText);
    }

    [Fact]
    public async Task Log_UnknownBuildOrBadId_ExitsNonZero()
    {
        await using var h = await UiHarness.StartAsync();

        var unknown = await CliRun.RunAsync("log", Guid.NewGuid().ToString(), "--url", h.BaseUrl);
        var bad = await CliRun.RunAsync("log", "not-an-id", "--url", h.BaseUrl);

        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no build", unknown.Stderr);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("not a build id", bad.Stderr);
    }

    [Fact]
    public async Task Log_Follow_StreamsUntilTheBuildFinishes_ExitsWithItsOutcome()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));
        var id = await h.SubmitAsync("hello");
        await h.StartBuildAsync(id, "w1");
        await h.LogAsync(id, "w1", 1, "first\n");

        var follow = CliRun.RunAsync("log", id.ToString(), "--follow", "--url", h.BaseUrl);
        await h.LogAsync(id, "w1", 2, "second\n");
        Assert.False(follow.IsCompleted, "log --follow returned while the build was still running");
        await h.FailAsync(id, "w1");
        var r = await follow.WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(100, r.ExitCode);
        Assert.Equal("first\nsecond", r.StdoutText);
    }

    [Fact]
    public async Task Workers_DrainPauseResume_SendCommands_UnknownWorkerFails()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAsync("w1", UiHarness.Caps("x86_64-linux"));

        var drain = await CliRun.RunAsync("workers", "drain", "w1", "--note", "disk swap", "--url", h.BaseUrl);
        var pause = await CliRun.RunAsync("workers", "pause", "w1", "--url", h.BaseUrl);
        var resume = await CliRun.RunAsync("workers", "resume", "w1", "--url", h.BaseUrl);
        var unknown = await CliRun.RunAsync("workers", "drain", "nope", "--url", h.BaseUrl);

        Assert.Equal([0, 0, 0], new[] { drain.ExitCode, pause.ExitCode, resume.ExitCode });
        Assert.Equal("drain sent to w1", drain.StdoutText);
        Assert.Equal(["drain w1 disk swap", "pause w1", "resume w1"], h.WorkerControl.Commands.ToArray());
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no worker named 'nope'", unknown.Stderr);
    }

    [Fact]
    public async Task Probe_ReportsSkewVersionKeyTrustAndUnknownOriginReach()
    {
        using var dir = new TempDirectory("probe");
        var trustedKey = SigningKey.Generate("w1-key");
        var strangerKey = SigningKey.Generate("stranger");
        var keysFile = dir.Combine("trusted-worker-keys");
        await File.WriteAllTextAsync(keysFile, trustedKey.PublicKey + "\n");
        await using var h = await UiHarness.StartAsync(config: new Dictionary<string, string?> { ["Dispatcher:TrustedWorkerKeysFile"] = keysFile });
        var fingerprint = $"1;{Out};{NarHash};4096;";
        await h.HeartbeatAtAsync("w1", UiHarness.Caps("x86_64-linux"), DateTimeOffset.UtcNow.AddSeconds(120), version: "1.2.3");
        await h.HeartbeatAtAsync("w2", UiHarness.Caps("x86_64-linux"), DateTimeOffset.UtcNow);
        var a = await h.SubmitAsync("a");
        await h.StartBuildAsync(a, "w1");
        await h.SucceedWithPhasesAsync(a, "w1", new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero),
            new BuiltOutput("out", Out, NarHash, 4096, [], [trustedKey.Sign(fingerprint)]));
        var b = await h.SubmitAsync("b");
        await h.StartBuildAsync(b, "w2");
        await h.SucceedWithPhasesAsync(b, "w2", new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero),
            new BuiltOutput("out", Out, NarHash, 4096, [], [strangerKey.Sign(fingerprint)]));

        var r = await CliRun.RunAsync("probe", "--url", h.BaseUrl, "--wait", "0");

        Assert.Equal(2, r.ExitCode);
        var text = r.StdoutText;
        var (w1, w2) = (ProbeReport.Section(text, "w1"), ProbeReport.Section(text, "w2"));
        Assert.Contains("w1: clock skew", w1);
        Assert.Matches(@"clock skew:\s+\+1[12]\d\.\d{3} s", w1);
        Assert.Contains("version:         1.2.3", w1);
        Assert.Contains("key:             trusted: ", w1);
        Assert.Contains("w1-key", w1);
        Assert.Contains("reaches origin:  unknown", w1);
        Assert.Contains("w2: untrusted key", w2);
        Assert.Contains("key:             untrusted: ", w2);
        Assert.Contains("stranger", w2);
        Assert.Contains("online:          yes", w2);
    }

    [Fact]
    public async Task Probe_AllWorkersOnline_NoKeysConfigured_ExitsZeroSayingNotChecked()
    {
        await using var h = await UiHarness.StartAsync();
        await h.HeartbeatAtAsync("w1", UiHarness.Caps("x86_64-linux"), DateTimeOffset.UtcNow);

        var r = await CliRun.RunAsync("probe", "--url", h.BaseUrl, "--wait", "0");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("w1: ok", r.StdoutText);
        Assert.Contains("answers probe:   not probed (--wait 0)", r.StdoutText);
        Assert.Empty(h.WorkerControl.Commands);
        Assert.Contains("key:             not-checked: no Dispatcher:TrustedWorkerKeysFile configured", r.StdoutText);
        Assert.Contains("trusted worker keys: not configured", r.StdoutText);
    }

    [Fact]
    public async Task Probe_Live_ReportsAnswersOriginReachAndProbeSkew_SilentWorkerFails()
    {
        using var dir = new TempDirectory("probe-live");
        var w1Key = SigningKey.Generate("w1-key");
        var keysFile = dir.Combine("trusted-worker-keys");
        await File.WriteAllTextAsync(keysFile, w1Key.PublicKey + "\n");
        await using var h = await UiHarness.StartAsync(config: new Dictionary<string, string?> { ["Dispatcher:TrustedWorkerKeysFile"] = keysFile });
        foreach (var name in new[] { "w1", "w2", "w3" })
            await h.HeartbeatAtAsync(name, UiHarness.Caps("x86_64-linux"), DateTimeOffset.UtcNow);
        h.AnswerProbes(
            ("w1", "reachable", "origin@o:22 answered over SSH in 12 ms: buildfarm 2.0.0", TimeSpan.FromSeconds(20), w1Key),
            ("w3", "refused", "origin o:22 refused: it is not pinned", TimeSpan.Zero, SigningKey.Generate("w3-stranger")));

        var r = await CliRun.RunAsync("probe", "--url", h.BaseUrl, "--wait", "2");

        Assert.Equal(2, r.ExitCode);
        var text = r.StdoutText;
        var (w1, w2, w3) = (ProbeReport.Section(text, "w1"), ProbeReport.Section(text, "w2"), ProbeReport.Section(text, "w3"));
        Assert.Contains("w1: ok", w1);
        Assert.Matches(@"answers probe:\s+yes, round trip \d+\.\d ms", w1);
        Assert.Matches(@"clock skew:\s+\+(19\.9|20\.0)\d\d s \(worker clock minus dispatcher clock, from the probe's round trip\)", w1);
        Assert.Contains("reaches origin:  reachable: origin@o:22 answered over SSH", w1);
        Assert.Contains("version:         2.0.0", w1);
        Assert.Contains("w2: no answer", w2);
        Assert.Contains("answers probe:   no answer within 2 s", w2);
        Assert.Contains("reaches origin:  unknown: no answer to the probe within 2 s", w2);
        Assert.Contains("key:             trusted: probe answer signed by trusted key 'w1-key'", w1);
        Assert.Contains("key:             unknown: ", w2);
        Assert.Contains("w3: untrusted key, origin refused", w3);
        Assert.Contains("key:             untrusted: probe answer: signature by 'w3-stranger': no trusted key has that name", w3);
        Assert.Contains("reaches origin:  refused: origin o:22 refused", w3);
        Assert.Equal(["probe"], h.WorkerControl.Commands.Select(c => c.Trim()).ToArray());
    }

    [Fact]
    public async Task Probe_DispatcherUnreachable_ExitsOne()
    {
        var r = await CliRun.RunAsync("probe", "--url", "http://127.0.0.1:9");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("cannot reach", r.Stderr);
    }
}
