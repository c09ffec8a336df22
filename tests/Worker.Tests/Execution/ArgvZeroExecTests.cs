using BuildFarm.Testing;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Tests.Execution;

/// <summary>The static exec program that gives builders Nix's argv[0] (the sandboxed and unsandboxed contract cases run it too).</summary>
public sealed class ArgvZeroExecTests : IDisposable
{
    private readonly TempDirectory _dir = new("argv0");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("/nix/store/x-bash/bin/bash", "bash")]
    [InlineData("/nix/store/x-builder.sh", "x-builder.sh")]
    [InlineData("/a/b/", "b")]
    [InlineData("builder", "builder")]
    public void BaseName_IsNixsBaseNameOf(string path, string expected) => Assert.Equal(expected, ArgvZeroExec.BaseName(path));

    [Fact]
    public async Task Run_ExecsTheBuilderWithItsBaseNameAsArgv0AndTheEnvironmentUnchanged()
    {
        var exec = _dir.Combine("exec");
        ArgvZeroExec.Write(exec);
        var sh = _dir.Combine("sh");
        File.CreateSymbolicLink(sh, "/bin/busybox");

        // busybox runs the applet its argv[0] names: "env" would fail as "/…/busybox"; the environment passes as is,
        // a name no shell would keep included.
        var env = await ProcessRunner.RunAsync("/usr/bin/env", ["-i", "weird-name=1", "PATH=/path-not-set", .. ArgvZeroExec.Command(exec, "/bin/busybox", ["env"])]);
        Assert.Equal(0, env.ExitCode);
        Assert.Equal("weird-name=1\nPATH=/path-not-set\n", env.Stdout);

        var shell = await ProcessRunner.RunAsync(exec, ArgvZeroExec.Command(exec, sh, ["-c", "echo \"$0\""]).Skip(1));
        Assert.Equal(0, shell.ExitCode);
        Assert.Equal("sh\n", shell.Stdout);
    }

    [Fact]
    public async Task Run_ClosesEveryDescriptorAboveStderr()
    {
        // The sandbox launcher hands the program its own file as fd 5; the builder must not inherit that, nor any other.
        var exec = _dir.Combine("exec");
        ArgvZeroExec.Write(exec);

        var run = await ProcessRunner.RunAsync("/bin/busybox", ["sh", "-c", $"exec 5<{exec} 7</dev/null; exec {exec} /bin/busybox ls -l /proc/self/fd"]);

        Assert.Equal(0, run.ExitCode);
        var fds = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[8]).ToList();
        // ls's own descriptor of the directory it lists is the only one above 2.
        Assert.Equal(["0", "1", "2", "3"], fds);
    }

    [Fact]
    public async Task Run_MissingBuilder_SaysSoAndExits127()
    {
        var exec = _dir.Combine("exec");
        ArgvZeroExec.Write(exec);

        var run = await ProcessRunner.RunAsync(exec, ["/nonexistent/bin/sh", "sh"]);

        Assert.Equal(127, run.ExitCode);
        Assert.Equal("buildfarm-exec: execvp /nonexistent/bin/sh: No such file or directory\n", run.Stderr);
    }
}
