using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Store;

/// <summary>
/// The store commands as a user runs them: the real <c>buildfarm</c> executable as a process, binary archives
/// through stdin/stdout, two stores rooted in temp directories.
/// </summary>
public sealed class StoreArchiveCommandTests : IDisposable
{
    private readonly TempDirectory _temp = new("cli-store");

    private string Root1 => _temp.Combine("r1");

    private string Root2 => _temp.Combine("r2");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Add_File_PrintsNixStoreAddPathAndInfoShowsNarHash()
    {
        var file = _temp.Combine("hello.txt");
        await File.WriteAllTextAsync(file, "hello " + Guid.NewGuid());

        var add = await RunAsync(Root1, null, "store", "add", file);
        var nixPath = await NixOracle.RunTextAsync("nix-store", "--add", file);
        var info = await RunAsync(Root1, null, "store", "info", nixPath);

        Assert.Equal(nixPath, add.Stdout.Trim());
        Assert.Equal(0, info.ExitCode);
        Assert.Contains($"NarHash: {await NixOracle.RunTextAsync("nix-store", "-q", "--hash", nixPath)}\n", info.Stdout, StringComparison.Ordinal);
        Assert.Contains($"StorePath: {nixPath}\n", info.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExportSigned_PipedIntoImportWithTrustedKeys_PathValidAndVerified()
    {
        var key = SigningKey.Generate("cli-test-1");
        var keyFile = _temp.Combine("secret");
        var trusted = _temp.Combine("trusted");
        await SecretKeyFiles.WriteAsync(keyFile, key + "\n");
        await File.WriteAllTextAsync(trusted, key.PublicKey + "\n");
        Directory.CreateDirectory(_temp.Combine("tree"));
        await File.WriteAllTextAsync(_temp.Combine("tree", "f"), "content");
        var path = (await RunAsync(Root1, null, "store", "add", _temp.Combine("tree"))).Stdout.Trim();
        (await RunAsync(Root1, null, "store", "sign", "--key-file", keyFile, path)).EnsureSuccess("store sign");

        var export = await RunAsync(Root1, null, "store", "export", "--signed", "--closure", path);
        var import = await RunAsync(Root2, export.StdoutBytes, "store", "import", "--trusted-keys", trusted);
        var verify = await RunAsync(Root2, null, "store", "verify", "--trusted-keys", trusted, path);
        var closure = await RunAsync(Root2, null, "store", "closure", path);

        Assert.Equal(0, export.ExitCode);
        Assert.True(import.ExitCode == 0, import.Stderr);
        Assert.Equal(path, import.Stdout.Trim());
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        Assert.Equal(path, closure.Stdout.Trim());
    }

    [Fact]
    public async Task ExportSigned_FileCorruptInTheStore_ImportRefusesNamingThePathUnlessVerifyAbortsTheExport()
    {
        Directory.CreateDirectory(_temp.Combine("rotten"));
        await File.WriteAllTextAsync(_temp.Combine("rotten", "f"), "original content " + Guid.NewGuid());
        var path = (await RunAsync(Root1, null, "store", "add", _temp.Combine("rotten"))).Stdout.Trim();
        var physical = Root1 + path + "/f";
        File.SetUnixFileMode(Root1 + path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(physical, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var bytes = await File.ReadAllBytesAsync(physical);
        bytes[0] ^= 0x20;
        await File.WriteAllBytesAsync(physical, bytes);

        // The signed form leaves the hash to the importer: the whole archive arrives, and the import refuses it.
        var export = await RunAsync(Root1, null, "store", "export", "--signed", path);
        var import = await RunAsync(Root2, export.StdoutBytes, "store", "import", "--no-check-sigs");
        var verified = await RunAsync(Root1, null, "store", "export", "--signed", "--verify", path);

        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.Equal(1, import.ExitCode);
        Assert.StartsWith($"buildfarm store import: path '{path}': NAR hash mismatch", import.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", import.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.Exists(Root2 + "/nix/store") ? Directory.EnumerateFileSystemEntries(Root2 + "/nix/store") : []);
        Assert.Equal(1, verified.ExitCode);
        Assert.Contains($"path '{path}' is corrupt on disk", verified.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_NixExportWithoutNoCheckSigs_OneLineErrorNoStackTrace()
    {
        var file = _temp.Combine("plain.txt");
        await File.WriteAllTextAsync(file, "plain " + Guid.NewGuid());
        var nixPath = await NixOracle.RunTextAsync("nix-store", "--add", file);
        var archive = await NixOracle.RunBytesAsync("nix-store", "--export", nixPath);
        var trusted = _temp.Combine("trusted");
        await File.WriteAllTextAsync(trusted, SigningKey.Generate("k").PublicKey + "\n");

        var refused = await RunAsync(Root2, archive, "store", "import", "--trusted-keys", trusted);
        var accepted = await RunAsync(Root2, archive, "store", "import", "--no-check-sigs");

        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith($"buildfarm store import: path '{nixPath}' is unsigned", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Stderr, StringComparison.Ordinal);
        Assert.True(accepted.ExitCode == 0, accepted.Stderr);
        Assert.Equal(nixPath, accepted.Stdout.Trim());
    }

    [Fact]
    public async Task Verify_ContentChangedOnDisk_Exit1WithReason()
    {
        var file = _temp.Combine("victim.txt");
        await File.WriteAllTextAsync(file, "original");
        var path = (await RunAsync(Root1, null, "store", "add", file)).Stdout.Trim();
        var physical = Root1 + path;
        File.SetUnixFileMode(physical, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await File.WriteAllTextAsync(physical, "tampered");

        var verify = await RunAsync(Root1, null, "store", "verify", path);

        Assert.Equal(1, verify.ExitCode);
        Assert.Contains($"buildfarm store verify: {path}: contents changed", verify.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sign_WorldReadableKeyFile_RefusedWithChmodFixAndNoSignature()
    {
        var keyFile = _temp.Combine("open.sec");
        await File.WriteAllTextAsync(keyFile, SigningKey.Generate("cli-open-1") + "\n");
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var file = _temp.Combine("signed.txt");
        await File.WriteAllTextAsync(file, "sign me " + Guid.NewGuid());
        var path = (await RunAsync(Root1, null, "store", "add", file)).Stdout.Trim();

        var sign = await RunAsync(Root1, null, "store", "sign", "--key-file", keyFile, path);
        var info = await RunAsync(Root1, null, "store", "info", path);

        Assert.NotEqual(0, sign.ExitCode);
        Assert.Contains($"secret key file '{keyFile}' is accessible by group or others (mode 0644)", sign.Stderr, StringComparison.Ordinal);
        Assert.Contains($"chmod 600 {keyFile}", sign.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("cli-open-1:", info.Stdout, StringComparison.Ordinal);
    }

    private static async Task<ProcessResult> RunAsync(string root, byte[]? stdin, params string[] args) =>
        await ProcessRunner.RunAsync(
            Path.Combine(AppContext.BaseDirectory, "buildfarm"),
            ["--root", root, "--store-dir", "/nix/store", .. args],
            stdin: stdin,
            timeout: TimeSpan.FromMinutes(2));
}
