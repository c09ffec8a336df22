using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary><c>./farm up --nix</c>: the local farm with this machine's /nix/store as origin, used by Nix through the printed lines.</summary>
[Collection(LocalFarms.Name)]
public sealed class FarmUpNixTests
{
    [Fact]
    public async Task FarmUpNix_PrintsBuildHookLineThatNixBuildUses_OutputValidInNixStore()
    {
        using var farm = new LocalFarm("plain x86_64-linux - - 1 1");

        var up = await farm.RunAsync(TimeSpan.FromMinutes(4), "up", "--nix", "--no-install", "--no-build");

        Assert.True(up.ExitCode == 0, $"./farm up --nix exited {up.ExitCode}:\n{up.Stdout}\n{up.Stderr}\n{farm.Logs()}");
        var lines = up.Stdout.Split('\n');
        var hookLine = Assert.Single(lines, l => l.StartsWith("build-hook = ", StringComparison.Ordinal));
        Assert.Equal($"build-hook = {farm.Dir}/nix-hook", hookLine);
        Assert.Contains(lines, l => l.StartsWith("export BUILDFARM_URL=http://127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains($"export BUILDFARM_HOOK_CONFIG={farm.Dir}/hook.json", lines);

        var bin = Path.Combine(farm.Dir, "scratch", "busybox", "bin");
        Directory.CreateDirectory(bin);
        File.Copy("/usr/bin/busybox", Path.Combine(bin, "busybox"));
        File.CreateSymbolicLink(Path.Combine(bin, "sh"), "busybox");
        var busybox = await NixOracle.RunTextAsync("nix-store", "--add", Path.GetDirectoryName(bin)!);
        var expression = Path.Combine(farm.Dir, "scratch", "one.nix");
        var nonce = Guid.NewGuid().ToString("N")[..10];
        await File.WriteAllTextAsync(expression,
            $"derivation {{ name = \"farm-up-nix-{nonce}\"; system = \"x86_64-linux\"; builder = builtins.storePath {busybox} + \"/bin/sh\"; args = [ \"-c\" \"echo hi > $out\" ]; }}\n");

        var build = await ProcessRunner.RunAsync("nix-build",
            [expression, "--no-out-link", "--max-jobs", "0", "--option", "substituters", "", "--option", "build-hook", hookLine["build-hook = ".Length..]],
            timeout: TimeSpan.FromMinutes(2));

        Assert.True(build.ExitCode == 0, $"nix-build through the farm's hook exited {build.ExitCode}:\n{build.Stderr}\n{farm.Logs()}");
        var output = build.Stdout.Trim();
        Assert.Equal("hi\n", await File.ReadAllTextAsync(output));
        (await ProcessRunner.RunAsync("nix-store", ["--verify-path", output])).EnsureSuccess("nix-store --verify-path");
        Assert.Equal("plain", Assert.Single(await farm.BuildsAsync()).Worker);
        Assert.False(File.Exists(farm.OriginPath(output)), "the output went to .farm/origin, not to /nix/store");
    }
}
