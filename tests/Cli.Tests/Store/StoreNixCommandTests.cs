using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Store;

/// <summary>
/// The store commands with <c>--nix</c> (a real Nix 2.8 store, private to the test: <c>local?store=…&amp;state=…</c>)
/// and the origin signing what it serves (<c>--signing-key-file</c>), as the real <c>buildfarm</c> process.
/// </summary>
public sealed class StoreNixCommandTests : IDisposable
{
    private readonly TempDirectory _temp = new("cli-nix");

    private string StoreDir => _temp.Combine("nix", "store");

    private string Uri => $"local?store={StoreDir}&state={_temp.Combine("nix", "var", "nix")}";

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task ExportNixSigned_IntoLocalStoreWithTheOriginKey_ValidWithNixsHashAndInfoAgrees()
    {
        var (keyFile, trusted) = await KeysAsync();
        var path = await NixAddAsync("tree");

        var export = await RunAsync(null, "--nix", "--signing-key-file", keyFile, "store", "export", "--signed", "--closure", path);
        var import = await RunAsync(export.StdoutBytes, "--root", _temp.Combine("worker"), "store", "import", "--trusted-keys", trusted);
        var info = await RunAsync(null, "--nix", "store", "info", path);
        var verify = await RunAsync(null, "--root", _temp.Combine("worker"), "store", "verify", "--trusted-keys", trusted, path);

        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.True(import.ExitCode == 0, import.Stderr);
        Assert.Equal(path, import.Stdout.Trim());
        var nixHash = (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "-q", "--hash", path])).EnsureSuccess("nix-store -q --hash").Stdout.Trim();
        Assert.Contains($"NarHash: {nixHash}\n", info.Stdout, StringComparison.Ordinal);
        Assert.True(verify.ExitCode == 0, verify.Stderr);
    }

    [Fact]
    public async Task ExportSigned_UnsignedImportSignedOnTheWay_WorkerTrustsIt()
    {
        // The manual path of docs/offload.md: nix-store --export | buildfarm store import --no-check-sigs, then the
        // origin's own export signs every path with the dispatcher's key, which workers trust for inputs.
        var (keyFile, trusted) = await KeysAsync();
        var path = await NixAddAsync("manual");
        var nixExport = (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--export", path])).EnsureSuccess("nix-store --export").StdoutBytes;
        (await RunAsync(nixExport, "--root", _temp.Combine("origin"), "store", "import", "--no-check-sigs")).EnsureSuccess("store import --no-check-sigs");

        var unsigned = await RunAsync(null, "--root", _temp.Combine("origin"), "store", "export", "--signed", path);
        var refused = await RunAsync(unsigned.StdoutBytes, "--root", _temp.Combine("w1"), "store", "import", "--trusted-keys", trusted);
        var signed = await RunAsync(null, "--root", _temp.Combine("origin"), "--signing-key-file", keyFile, "store", "export", "--signed", path);
        var accepted = await RunAsync(signed.StdoutBytes, "--root", _temp.Combine("w2"), "store", "import", "--trusted-keys", trusted);

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("is not signed by a trusted key: the path has no signatures", refused.Stderr, StringComparison.Ordinal);
        Assert.True(accepted.ExitCode == 0, accepted.Stderr);
        Assert.Equal(path, accepted.Stdout.Trim());
    }

    [Fact]
    public async Task Export_PathNotValid_ExitsWithTheMissingPathStatus()
    {
        await NixAddAsync("seed");
        var missing = StoreDir + "/" + new string('1', 32) + "-gone";

        var export = await RunAsync(null, "--nix", "store", "export", "--signed", missing);

        Assert.Equal(BuildFarm.Transfer.Fetch.MissingInputException.OriginExitCode, export.ExitCode);
        Assert.Contains($"path '{missing}' is not valid", export.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Add_WithNix_RefusedNamingNixsOwnCommand()
    {
        await NixAddAsync("seed");

        var add = await RunAsync(null, "--nix", "store", "add", _temp.Combine("seed"));

        Assert.Equal(1, add.ExitCode);
        Assert.Contains("not with --nix: use Nix's own command (nix-store --add", add.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddDumpImport_SymlinkToADirectory_AcceptedAsNixDoes()
    {
        var link = _temp.Combine("to-root");
        File.CreateSymbolicLink(link, "/");
        Directory.CreateDirectory(StoreDir);
        var nixPath = (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--add", link])).EnsureSuccess("nix-store --add").Stdout.Trim();
        var nixDump = (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--dump", nixPath])).EnsureSuccess("nix-store --dump").StdoutBytes;
        var nixExport = (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--export", nixPath])).EnsureSuccess("nix-store --export").StdoutBytes;

        var add = await RunAsync(null, "--root", _temp.Combine("added"), "store", "add", link);
        var dump = await RunAsync(null, "--root", _temp.Combine("added"), "store", "dump", nixPath);
        var import = await RunAsync(nixExport, "--root", _temp.Combine("imported"), "store", "import", "--no-check-sigs");

        Assert.Equal(nixPath, add.EnsureSuccess("store add").Stdout.Trim());
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(nixDump)), Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(dump.EnsureSuccess("store dump").StdoutBytes)));
        Assert.Equal(nixPath, import.EnsureSuccess("store import").Stdout.Trim());
        Assert.Equal("/", new FileInfo(_temp.Combine("imported") + nixPath).LinkTarget);
    }

    private async Task<(string KeyFile, string Trusted)> KeysAsync()
    {
        var key = SigningKey.Generate("dispatcher-1");
        var keyFile = _temp.Combine("dispatcher.sec");
        var trusted = _temp.Combine("trusted-inputs.pub");
        await SecretKeyFiles.WriteAsync(keyFile, key + "\n");
        await File.WriteAllTextAsync(trusted, key.PublicKey + "\n");
        return (keyFile, trusted);
    }

    private async Task<string> NixAddAsync(string name)
    {
        var source = _temp.Combine(name);
        Directory.CreateDirectory(source);
        await File.WriteAllTextAsync(Path.Combine(source, "f"), name + " " + Guid.NewGuid());
        Directory.CreateDirectory(StoreDir);
        return (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--add", source])).EnsureSuccess("nix-store --add").Stdout.Trim();
    }

    private async Task<ProcessResult> RunAsync(byte[]? stdin, params string[] args) =>
        await ProcessRunner.RunAsync(
            Path.Combine(AppContext.BaseDirectory, "buildfarm"),
            ["--store-dir", StoreDir, .. args],
            stdin: stdin,
            timeout: TimeSpan.FromMinutes(2));
}
