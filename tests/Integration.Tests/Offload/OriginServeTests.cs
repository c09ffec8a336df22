using BuildFarm.Testing;
using BuildFarm.Transfer.Exec;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// A worker key restricted by <c>command="buildfarm origin-serve …",restrict</c> in a real OpenSSH sshd's
/// authorized_keys: the worker's own store commands (quoted as <see cref="ShellCommand"/> quotes them) still pull and
/// upload, while a shell, other programs and paths outside the store are refused with 126 and nothing run.
/// </summary>
public sealed class OriginServeTests(OriginFixture fixture) : IClassFixture<OriginFixture>
{
    private async Task<(SshdServer Sshd, string Ssh)> RestrictedSshdAsync()
    {
        var sshd = await SshdServer.StartAsync();
        await sshd.ForceCommandAsync($"{RepoPaths.Buildfarm} --store-dir /nix/store --root {fixture.Origin.Root} --signing-key-file {fixture.SecretKeyFile} origin-serve");
        var ssh = $"ssh -p {sshd.Port} -i {sshd.ClientKeyPath} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes {sshd.User}@{sshd.Host}";
        return (sshd, ssh);
    }

    // The dispatcher's default RemoteCommand form: a quoted program and the store flags.
    private string RemoteCommand => ShellCommand.Join(ShellCommand.Quote(RepoPaths.Buildfarm), ["--store-dir", "/nix/store", "--root", fixture.Origin.Root, "--signing-key-file", fixture.SecretKeyFile]);

    [Theory]
    [InlineData("id")]
    [InlineData("cat /etc/passwd")]
    [InlineData("sh -c id")]
    [InlineData("buildfarm store export --signed /etc/passwd")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-x; id")]
    [InlineData("buildfarm store export --signed /nix/store/0123456789abcdfghijklmnpqrsvwxyz-$(id)")]
    public async Task OriginServe_CommandOutsideTheAllowedVerbs_RefusedWith126AndNothingRun(string command)
    {
        var (sshd, ssh) = await RestrictedSshdAsync();
        using var _ = sshd;

        var result = await ProcessRunner.RunAsync("/bin/bash", ["-c", $"{ssh} {ShellCommand.Quote(command)}"]);

        Assert.True(result.ExitCode == 126, $"exit {result.ExitCode}: {result.Stdout} {result.Stderr}");
        Assert.Contains("buildfarm origin-serve: refused", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("uid=", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("root:", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OriginServe_NoCommand_RefusedWith126()
    {
        var (sshd, ssh) = await RestrictedSshdAsync();
        using var _ = sshd;

        var result = await ProcessRunner.RunAsync("/bin/bash", ["-c", $"{ssh} < /dev/null"]);

        Assert.Equal(126, result.ExitCode);
        Assert.Contains("refused", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OriginServe_WorkersSignedExport_ImportsIntoWorkerStore(bool gzip)
    {
        var (sshd, ssh) = await RestrictedSshdAsync();
        using var _ = sshd;
        var workerRoot = fixture.Scratch("origin-serve-pull-" + gzip);
        var paths = fixture.ImportedClosure;
        var remote = ShellCommand.Join(RemoteCommand, ["store", "export", "--signed", .. paths]);
        if (gzip)
            remote = ShellCommand.GzipStdout(remote);
        var import = $"{RepoPaths.Buildfarm} --store-dir /nix/store --root {workerRoot} store import --trusted-keys {fixture.PublicKeyFile}";

        var result = await ProcessRunner.RunAsync("/bin/bash", ["-o", "pipefail", "-c", $"{ssh} {ShellCommand.Quote(remote)} {(gzip ? "| gzip -dc " : "")}| {import}"]);

        Assert.True(result.ExitCode == 0, result.Stderr + sshd.ReadLog());
        var worker = await StoreContents.ReadAsync(workerRoot);
        Assert.Equal(paths.Order(StringComparer.Ordinal), worker.ValidPaths.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task OriginServe_ExportOfMissingPath_KeepsExportsDistinctExitStatus()
    {
        var (sshd, ssh) = await RestrictedSshdAsync();
        using var _ = sshd;
        var remote = ShellCommand.Join(RemoteCommand, ["store", "export", "--signed", "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-missing"]);

        var result = await ProcessRunner.RunAsync("/bin/bash", ["-c", $"{ssh} {ShellCommand.Quote(remote)} > /dev/null"]);

        Assert.Equal(BuildFarm.Transfer.Fetch.MissingInputException.OriginExitCode, result.ExitCode);
        Assert.Contains("is not valid", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OriginServe_QuarantinePut_StoresTheUploadInTheQuarantine()
    {
        var (sshd, ssh) = await RestrictedSshdAsync();
        using var _ = sshd;
        var build = Guid.NewGuid();
        var payload = Path.Combine(fixture.Scratch("origin-serve-put"), "payload");
        await File.WriteAllBytesAsync(payload, System.Text.Encoding.ASCII.GetBytes("not really an archive, the quarantine does not look"));
        var remote = ShellCommand.Join(RemoteCommand, ["store", "quarantine-put", "--build", build.ToString(), "--attempt", "1"]);

        var result = await ProcessRunner.RunAsync("/bin/bash", ["-c", $"{ssh} {ShellCommand.Quote(remote)} < {payload}"]);

        Assert.True(result.ExitCode == 0, result.Stderr + sshd.ReadLog());
        Assert.Equal(new FileInfo(payload).Length.ToString(System.Globalization.CultureInfo.InvariantCulture), result.Stdout.Trim());
        Assert.Contains(Directory.EnumerateFiles(fixture.Origin.Root, "*", SearchOption.AllDirectories), f => f.Contains(build.ToString("N"), StringComparison.Ordinal));
    }
}
