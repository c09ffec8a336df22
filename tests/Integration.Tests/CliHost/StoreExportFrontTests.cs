using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.CliHost;

/// <summary>
/// <c>store export</c> and <c>origin-serve</c>'s export requests answered by the published NativeAOT front (<c>artifacts/bin/buildfarm</c>; <c>./farm build</c>
/// first), as an origin runs it once per input pull: the archive, stderr and exit code byte for byte the managed CLI's
/// (<c>buildfarm-cli</c>) for the same command lines, errors and hand-overs included.
/// </summary>
public sealed class StoreExportFrontTests : IDisposable
{
    private readonly TempDirectory _dir = new("front-export");
    private (string Top, string Dep) _paths;

    public void Dispose() => _dir.Dispose();

    /// <summary>Command lines over a store holding {dep} (a tree with a 5 MiB file) and {top} (a file); {key} a secret key file.</summary>
    public static TheoryData<string, string[]> CommandLines => new()
    {
        { "signed", ["store", "export", "--signed", "{top}", "{dep}"] },
        { "signed closure", ["store", "export", "--signed", "--closure", "{top}"] },
        { "signed, verified", ["store", "export", "--signed", "--verify", "{dep}"] },
        { "signed by the origin's key", ["--signing-key-file", "{key}", "store", "export", "--signed", "{top}", "{dep}"] },
        { "Nix form", ["store", "export", "--closure", "{top}"] },
        { "path not valid: exit 3", ["store", "export", "--signed", "/nix/store/00000000000000000000000000000000-gone"] },
        { "not a store path", ["store", "export", "--signed", "/etc/passwd"] },
        { "key without --signed", ["--signing-key-file", "{key}", "store", "export", "{dep}"] },
        { "no path", ["store", "export", "--signed"] },
        { "help", ["store", "export", "--help"] },
    };

    [Theory]
    [MemberData(nameof(CommandLines))]
    public async Task StoreExport_FrontAndManagedCli_AnswerIdentically(string what, string[] template)
    {
        var args = await ArgumentsAsync(template);

        var front = await RunAsync(RepoPaths.Buildfarm, args);
        var managed = await RunAsync(RepoPaths.BuildfarmCli, args);

        Assert.True(managed.ExitCode is 0 or 1 or 3, $"{what}: the managed CLI exited {managed.ExitCode}: {managed.Stderr}");
        Assert.Equal(
            (managed.ExitCode, Convert.ToBase64String(managed.StdoutBytes), managed.Stderr),
            (front.ExitCode, Convert.ToBase64String(front.StdoutBytes), front.Stderr));
    }

    /// <summary>
    /// <c>origin-serve</c> (an origin's forced command) with the worker's request in <c>SSH_ORIGINAL_COMMAND</c>: the
    /// front runs export requests itself and hands the rest to the managed CLI; either way the answer is the CLI's.
    /// </summary>
    public static TheoryData<string, string> OriginServeRequests => new()
    {
        { "export", "buildfarm --store-dir /nix/store --root {root} store export --signed {top} {dep}" },
        { "export, RemoteGzip", "exec 3>&1; status=$( { { ( buildfarm --store-dir /nix/store --root {root} store export --signed {dep} ); echo $? >&4; } | gzip -1 -c >&3; } 4>&1 ); exit \"$status\"" },
        { "export of a path the origin lacks", "buildfarm store export --signed /nix/store/00000000000000000000000000000000-gone" },
        { "export with a shell metacharacter: refused", "buildfarm store export --signed {dep}; id" },
        { "export of another store: refused", "buildfarm --root /elsewhere store export --signed {dep}" },
        { "export without --signed: refused", "buildfarm store export {dep}" },
        { "version", "buildfarm --version" },
        { "no command", "" },
    };

    [Theory]
    [MemberData(nameof(OriginServeRequests))]
    public async Task OriginServe_FrontAndManagedCli_AnswerIdentically(string what, string request)
    {
        var args = await ArgumentsAsync(["origin-serve"]);
        var root = args[Array.IndexOf(args, "--root") + 1];
        var (top, dep) = (_paths.Top, _paths.Dep);
        var environment = new Dictionary<string, string>
        {
            ["SSH_ORIGINAL_COMMAND"] = request.Replace("{root}", root, StringComparison.Ordinal).Replace("{top}", top, StringComparison.Ordinal).Replace("{dep}", dep, StringComparison.Ordinal),
        };

        var front = await RunAsync(RepoPaths.Buildfarm, args, environment);
        var managed = await RunAsync(RepoPaths.BuildfarmCli, args, environment);

        Assert.True(managed.ExitCode is 0 or 3 or 126, $"{what}: the managed CLI exited {managed.ExitCode}: {managed.Stderr}");
        Assert.Equal(
            (managed.ExitCode, Convert.ToBase64String(managed.StdoutBytes), managed.Stderr),
            (front.ExitCode, Convert.ToBase64String(front.StdoutBytes), front.Stderr));
    }

    /// <summary>
    /// Copied with only the native libraries it loads (SQLite, libsodium) into an empty directory, where there is no
    /// managed CLI to hand over to, the front still exports: the answer came from the native code.
    /// </summary>
    [Fact]
    public async Task StoreExport_FrontWithoutManagedCli_AnswersItself()
    {
        var args = await ArgumentsAsync(["store", "export", "--signed", "--closure", "{top}"]);
        var front = _dir.Combine("alone", "buildfarm");
        Directory.CreateDirectory(Path.GetDirectoryName(front)!);
        File.Copy(RepoPaths.Buildfarm, front);
        foreach (var library in new[] { "libe_sqlite3.so", "libsodium.so" })
            File.Copy(Path.Combine(RepoPaths.Bin, library), Path.Combine(Path.GetDirectoryName(front)!, library));

        var alone = await RunAsync(front, args);
        var managed = await RunAsync(RepoPaths.BuildfarmCli, args);

        Assert.True(alone.ExitCode == 0, alone.Stderr);
        Assert.True(alone.StdoutBytes.Length > 0);
        Assert.Equal(managed.StdoutBytes, alone.StdoutBytes);
    }

    /// <summary>A store under a root of this test's own with two paths, and the command line's placeholders filled in.</summary>
    private async Task<string[]> ArgumentsAsync(string[] template)
    {
        var root = _dir.Combine("root");
        var store = new[] { "--store-dir", "/nix/store", "--root", root };
        var tree = _dir.Combine("dep");
        Directory.CreateDirectory(Path.Combine(tree, "bin"));
        await File.WriteAllTextAsync(Path.Combine(tree, "bin", "tool"), "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(Path.Combine(tree, "bin", "tool"), (UnixFileMode)0b111_101_101);
        await File.WriteAllBytesAsync(Path.Combine(tree, "large"), System.Security.Cryptography.RandomNumberGenerator.GetBytes((5 << 20) + 7));
        var dep = (await RunAsync(RepoPaths.BuildfarmCli, [.. store, "store", "add", tree])).EnsureSuccess("store add").Stdout.Trim();
        var text = _dir.Combine("top.txt");
        await File.WriteAllTextAsync(text, dep);
        var top = (await RunAsync(RepoPaths.BuildfarmCli, [.. store, "store", "add", text])).EnsureSuccess("store add").Stdout.Trim();
        _paths = (top, dep);
        var key = _dir.Combine("origin.sec");
        await SecretKeyFiles.WriteAsync(key, SigningKey.Generate("front-origin-1") + "\n");
        return [.. store, .. template.Select(a => a.Replace("{top}", top, StringComparison.Ordinal).Replace("{dep}", dep, StringComparison.Ordinal).Replace("{key}", key, StringComparison.Ordinal))];
    }

    private static Task<ProcessResult> RunAsync(string program, string[] args, Dictionary<string, string>? environment = null) =>
        ProcessRunner.RunAsync(program, args, environment: environment, timeout: TimeSpan.FromMinutes(2));
}
