using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// <c>./farm demo</c> end to end: a local farm whose origin is this machine's /nix/store, and a plain nix-build of
/// examples/nix/demo.nix whose every derivation Nix hands to the farm through the build hook. The store is shared
/// with every other run, so the test renames the derivations with FARM_DEMO_NONCE (fresh paths); the demo itself has none.
/// </summary>
[Collection(LocalFarms.Name)]
public sealed class FarmDemoTests
{
    /// <summary>What release's builder writes, computed by hand from the expression (the same as examples/graph's).</summary>
    private const string ExpectedSummary = """
        HELLO FROM THE BUILDFARM DEMO
        guix nix origin queue rabbit sandbox store worker 
        numbers: 500
        sum: 125250
        words: 8
        vm-test passed (needs kvm)
        built for i686-linux

        """;

    private static readonly string[] Workers = ["plain", "i686", "kvm"];

    private static readonly string[] Derivations = ["greeting", "numbers", "words", "legacy-i686", "banner", "stats", "vm-test", "release"];

    [Fact]
    public async Task Demo_FreshFarmDir_NixBuildHandsEveryDerivationToTheFarmAndSecondRunRebuildsNothing()
    {
        var nonce = Guid.NewGuid().ToString("N")[..10];
        using var farm = new LocalFarm(environment: new Dictionary<string, string> { ["FARM_DEMO_NONCE"] = nonce });

        var first = await farm.RunAsync(TimeSpan.FromMinutes(6), "demo", "--no-install", "--no-build");

        Assert.True(first.ExitCode == 0, $"./farm demo exited {first.ExitCode}\n{first.Stdout}\n{first.Stderr}\n{farm.Logs()}");
        Assert.DoesNotContain("nothing to rebuild", first.Stderr, StringComparison.Ordinal);
        var release = ResultPath(first.Stdout, $"-demo-{nonce}-release");
        Assert.Equal(ExpectedSummary, await File.ReadAllTextAsync(Path.Combine(release, "summary")));
        var refs = (await File.ReadAllTextAsync(Path.Combine(release, "refs"))).Split(' ', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, refs.Length);
        foreach (var path in refs.Append(release))
            (await ProcessRunner.RunAsync("nix-store", ["--verify-path", path])).EnsureSuccess($"nix-store --verify-path {path}");
        Assert.False(File.Exists(farm.OriginPath(release)), "the output went to .farm/origin, not to /nix/store");

        // Every derivation was built by a farm worker (--max-jobs 0: Nix could build none itself), kvm and i686 routed.
        var builds = await farm.BuildsAsync();
        foreach (var name in Derivations)
        {
            var build = Assert.Single(builds, b => b.DrvPath.EndsWith($"-demo-{nonce}-{name}.drv", StringComparison.Ordinal));
            Assert.Equal("succeeded", build.State);
            Assert.Contains(build.Worker, Workers);
        }

        Assert.Equal("kvm", Assert.Single(builds, b => b.DrvPath.EndsWith("-vm-test.drv", StringComparison.Ordinal)).Worker);
        Assert.Equal("i686", Assert.Single(builds, b => b.DrvPath.EndsWith("-legacy-i686.drv", StringComparison.Ordinal)).Worker);
        Assert.Equal(Derivations.Length, builds.Count);
        var top = Assert.Single(builds, b => b.DrvPath.EndsWith("-release.drv", StringComparison.Ordinal));
        Assert.Contains($"{top.Worker}-1:", await NixOracle.RunTextAsync("nix", "path-info", "--sigs", release), StringComparison.Ordinal);
        Assert.Contains(first.Stdout.Split('\n'), l => l.Contains($"-demo-{nonce}-vm-test.drv", StringComparison.Ordinal) && l.Contains(" kvm ", StringComparison.Ordinal));
        Assert.Contains("on 'buildfarm[", first.Stderr, StringComparison.Ordinal);

        var second = await farm.RunAsync(TimeSpan.FromMinutes(3), "demo", "--no-install", "--no-build");

        Assert.True(second.ExitCode == 0, $"second ./farm demo exited {second.ExitCode}\n{second.Stdout}\n{second.Stderr}\n{farm.Logs()}");
        Assert.Contains("nothing to rebuild", second.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("on 'buildfarm[", second.Stderr, StringComparison.Ordinal);
        Assert.Equal(release, ResultPath(second.Stdout, $"-demo-{nonce}-release"));
        Assert.Equal(builds.Count, (await farm.BuildsAsync()).Count);
    }

    /// <summary>The result line <c>/nix/store/…-NAME   (valid in /nix/store; …)</c> that demo prints.</summary>
    internal static string ResultPath(string stdout, string suffix) =>
        stdout.Split('\n').Select(l => l.Split(' ', 2)[0]).FirstOrDefault(p => p.StartsWith("/nix/store/", StringComparison.Ordinal) && p.EndsWith(suffix, StringComparison.Ordinal))
        ?? throw new Xunit.Sdk.XunitException($"no result path ending in {suffix} in:\n{stdout}");
}
