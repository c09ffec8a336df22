using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary><c>./farm demo</c> end to end: the example graph (examples/graph) built by a local farm into its origin.</summary>
[Collection(LocalFarms.Name)]
public sealed class FarmDemoTests
{
    /// <summary>What release's builder writes, computed by hand from the specs (and what nix-build gives for them).</summary>
    private const string ExpectedSummary = """
        HELLO FROM THE BUILDFARM DEMO
        guix nix origin queue rabbit sandbox store worker 
        numbers: 500
        sum: 125250
        words: 8
        vm-test passed (needs kvm)
        built for i686-linux

        """;

    [Fact]
    public async Task Demo_FreshFarmDir_BuildsExampleGraphIntoOriginAndSecondRunRebuildsNothing()
    {
        using var farm = new LocalFarm();

        var first = await farm.RunAsync(TimeSpan.FromMinutes(4), "demo", "--no-install", "--no-build");

        Assert.True(first.ExitCode == 0, $"./farm demo exited {first.ExitCode}\n{first.Stdout}\n{first.Stderr}\n{farm.Logs()}");
        var release = ResultPath(first.Stdout, "-release");
        Assert.Equal(ExpectedSummary, await File.ReadAllTextAsync(Path.Combine(farm.OriginPath(release), "summary")));
        var refs = (await File.ReadAllTextAsync(Path.Combine(farm.OriginPath(release), "refs"))).Split(' ', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, refs.Length);
        Assert.All(refs, r => Assert.True(Directory.Exists(farm.OriginPath(r)), $"{r} (an input of release) is not in the origin store"));
        Assert.Contains("UI ", first.Stderr + first.Stdout, StringComparison.Ordinal);

        // Routing: the kvm derivation ran on the only worker with kvm, the i686 one on the only i686 worker.
        var builds = await farm.BuildsAsync();
        Assert.Equal("kvm", Assert.Single(builds, b => b.DrvPath.EndsWith("-vm-test.drv", StringComparison.Ordinal)).Worker);
        Assert.Equal("i686", Assert.Single(builds, b => b.DrvPath.EndsWith("-legacy-i686.drv", StringComparison.Ordinal)).Worker);
        Assert.Equal(8, builds.Count(b => b.State == "succeeded"));

        var second = await farm.RunAsync(TimeSpan.FromMinutes(2), "demo", "--no-install", "--no-build");

        Assert.True(second.ExitCode == 0, $"second ./farm demo exited {second.ExitCode}\n{second.Stdout}\n{second.Stderr}\n{farm.Logs()}");
        Assert.Contains("nothing to rebuild", second.Stderr, StringComparison.Ordinal);
        Assert.Equal(release, ResultPath(second.Stdout, "-release"));
        Assert.Equal(builds.Count, (await farm.BuildsAsync()).Count);
    }

    /// <summary>The result line <c>/nix/store/…-NAME   (at the origin: …)</c> that demo prints.</summary>
    internal static string ResultPath(string stdout, string suffix) =>
        stdout.Split('\n').Select(l => l.Split(' ', 2)[0]).LastOrDefault(p => p.StartsWith("/nix/store/", StringComparison.Ordinal) && p.EndsWith(suffix, StringComparison.Ordinal))
        ?? throw new Xunit.Sdk.XunitException($"no result path ending in {suffix} in:\n{stdout}");
}
