using System.Text.Json;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

public sealed class InstallWorkerTests
{
    private const string StateDir = "/var/lib/buildfarm-worker";
    private const string SecretFile = StateDir + "/keys/signing.secret";
    private const string PublicFile = StateDir + "/keys/signing.public";
    private const string Config = "/etc/buildfarm/worker.json";
    private const string TrustedKeys = "/etc/buildfarm/trusted-dispatcher-keys";
    private const string OriginLoginKey = StateDir + "/keys/origin_ed25519";
    private const string TrustedInputKeys = "/etc/buildfarm/trusted-origin-keys";
    private const string LegacyOriginHostKeys = "/etc/buildfarm/origin-host-keys";
    private const string Unit = "/etc/systemd/system/buildfarm-worker.service";
    private const string DropIn = "/etc/systemd/system/buildfarm-worker.service.d/install.conf";
    private const string HostKey = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

    /// <summary>A well-formed public key (32 bytes) for tests that fail before any key is used.</summary>
    private const string FixedDispatcherKey = "dispatcher-1:q5qAfa6NdRZOx/iro8SUYSBQBd2F3vVCF9tdutApkbw=";

    private static async Task<string> DispatcherKeyAsync()
    {
        var secret = await NixOracle.RunTextAsync("nix", "key", "generate-secret", "--key-name", "dispatcher-1");
        var result = await ProcessRunner.RunAsync("nix", ["key", "convert-secret-to-public"], stdin: System.Text.Encoding.UTF8.GetBytes(secret));
        return result.EnsureSuccess("nix key convert-secret-to-public").Stdout.Trim();
    }

    private static string[] FullFlags(string dispatcherKey) =>
    [
        "--name", "builder-1", "--systems", "x86_64-linux,i686-linux", "--features", "kvm,big-parallel",
        "--mandatory-features", "benchmark", "--slots", "3", "--speed", "2.5",
        "--broker-uri", "amqp://bf:secret@rabbit-a:5672/,amqp://bf:secret@rabbit-b:5672/",
        "--store-dir", "/nix/store", "--root", "/srv/buildfarm/store",
        "--dispatcher-key", dispatcherKey, "--origin", "origin.example", "--origin-host-key", HostKey, "--no-enable",
    ];

    [Fact]
    public async Task InstallWorker_ScratchRoot_CreatesEveryFileWithItsModeAndContents()
    {
        using var run = new InstallWorkerRun();
        var dispatcherKey = await DispatcherKeyAsync();

        var result = await run.RunAsync(FullFlags(dispatcherKey));

        Assert.True(result.ExitCode == 0, $"install-worker.sh exited {result.ExitCode}: {result.Stderr}");
        var expected = new Dictionary<string, string>
        {
            ["/etc"] = "755", ["/etc/buildfarm"] = "755", [Config] = "640", [TrustedKeys] = "644", [TrustedInputKeys] = "644",
            ["/etc/systemd"] = "755", ["/etc/systemd/system"] = "755", [Unit] = "644",
            ["/etc/systemd/system/buildfarm-worker.service.d"] = "755", [DropIn] = "644",
            ["/var"] = "755", ["/var/lib"] = "755", [StateDir] = "751", [StateDir + "/keys"] = "700",
            [SecretFile] = "600", [PublicFile] = "644", [OriginLoginKey] = "600", [OriginLoginKey + ".pub"] = "644",
            ["/srv"] = "755", ["/srv/buildfarm"] = "755", ["/srv/buildfarm/store"] = "755",
            ["/srv/buildfarm/store/nix"] = "755", ["/srv/buildfarm/store/nix/store"] = "755",
        };
        var actual = Directory.EnumerateFileSystemEntries(run.DestDir, "*", SearchOption.AllDirectories)
            .ToDictionary(p => p[run.DestDir.Length..], p => Convert.ToString((int)File.GetUnixFileMode(p), 8));
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), actual.OrderBy(e => e.Key, StringComparer.Ordinal));

        using var config = JsonDocument.Parse(File.ReadAllText(run.InRoot(Config)));
        var c = config.RootElement;
        Assert.Equal("builder-1", c.GetProperty("name").GetString());
        Assert.Equal(["x86_64-linux", "i686-linux"], Strings(c.GetProperty("systems")));
        Assert.Equal(["kvm", "big-parallel"], Strings(c.GetProperty("supportedFeatures")));
        Assert.Equal(["benchmark"], Strings(c.GetProperty("mandatoryFeatures")));
        Assert.Equal(3, c.GetProperty("slots").GetInt32());
        Assert.Equal(2.5, c.GetProperty("speedFactor").GetDouble());
        Assert.Equal("/nix/store", c.GetProperty("store").GetProperty("storeDir").GetString());
        Assert.Equal("/srv/buildfarm/store", c.GetProperty("store").GetProperty("root").GetString());
        Assert.Equal(SecretFile, c.GetProperty("keys").GetProperty("signingKeyFile").GetString());
        Assert.Equal(TrustedKeys, c.GetProperty("keys").GetProperty("trustedDispatcherKeysFile").GetString());
        Assert.Equal([dispatcherKey], File.ReadAllLines(run.InRoot(TrustedKeys)));
        var origins = c.GetProperty("origins");
        var pin = Assert.Single(origins.GetProperty("pinnedHostKeys").EnumerateArray());
        Assert.Equal(("origin.example", 22, HostKey), (pin.GetProperty("host").GetString(), pin.GetProperty("port").GetInt32(), pin.GetProperty("fingerprint").GetString()));
        Assert.Equal(OriginLoginKey, origins.GetProperty("privateKeyFile").GetString());
        Assert.Equal(TrustedInputKeys, origins.GetProperty("trustedInputKeysFile").GetString());
        // Without --origin-key the inputs are trusted when signed by the dispatcher.
        Assert.Equal([dispatcherKey], File.ReadAllLines(run.InRoot(TrustedInputKeys)));
        Assert.Contains("origin login key: " + File.ReadAllText(run.InRoot(OriginLoginKey + ".pub")).Trim(), result.Stdout.Split('\n').Select(l => l.Trim()));
        Assert.Equal("amqp://bf:secret@rabbit-a:5672/,amqp://bf:secret@rabbit-b:5672/", c.GetProperty("broker").GetProperty("uri").GetString());
        Assert.False(c.GetProperty("allowUnsandboxed").GetBoolean());

        // The key pair is Nix's format: the public half Nix derives from the secret is the one printed.
        var secret = File.ReadAllText(run.InRoot(SecretFile)).Trim();
        var fromNix = await ProcessRunner.RunAsync("nix", ["key", "convert-secret-to-public"], stdin: System.Text.Encoding.UTF8.GetBytes(secret));
        var publicKey = fromNix.EnsureSuccess("nix key convert-secret-to-public").Stdout.Trim();
        Assert.StartsWith("builder-1:", publicKey, StringComparison.Ordinal);
        Assert.Equal(publicKey, File.ReadAllText(run.InRoot(PublicFile)).Trim());
        Assert.Contains("public key: " + publicKey, result.Stdout.Split('\n').Select(l => l.Trim()));

        Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Root, "packaging", "buildfarm-worker.service")), File.ReadAllText(run.InRoot(Unit)));
        var dropIn = File.ReadAllLines(run.InRoot(DropIn));
        Assert.Contains("ExecStart=", dropIn);
        Assert.Contains($"ExecStart={run.BinDir}/buildfarm-worker run --config {Config}", dropIn);
        Assert.Contains("ReadWritePaths=/srv/buildfarm/store", dropIn);
        Assert.Contains("systemctl not run", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("user buildfarm-worker not created", result.Stdout, StringComparison.Ordinal);
    }

    /// <summary>The published binaries themselves as --binary-dir (what an installation from artifacts/bin does).</summary>
    [Fact]
    public async Task InstallWorker_PublishedBinaries_GeneratesAKeyNixAccepts()
    {
        using var run = new InstallWorkerRun { BinaryDir = RepoPaths.Bin };

        var result = await run.RunAsync(FullFlags(FixedDispatcherKey));

        Assert.True(result.ExitCode == 0, $"install-worker.sh exited {result.ExitCode}: {result.Stderr}");
        var secret = System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(run.InRoot(SecretFile)));
        var fromNix = (await ProcessRunner.RunAsync("nix", ["key", "convert-secret-to-public"], stdin: secret)).EnsureSuccess("nix key convert-secret-to-public");
        Assert.Contains("public key: " + fromNix.Stdout.Trim(), result.Stdout, StringComparison.Ordinal);
        Assert.Contains($"ExecStart={run.BinaryDir}/buildfarm-worker run --config {Config}", File.ReadAllLines(run.InRoot(DropIn)));
    }

    [Fact]
    public async Task InstallWorker_RunTwice_KeepsTheKeyAndWritesTheSameFiles()
    {
        using var run = new InstallWorkerRun();
        var flags = FullFlags(await DispatcherKeyAsync());
        (await run.RunAsync(flags)).EnsureSuccess("first install-worker.sh");
        var first = Snapshot(run.DestDir);

        var second = (await run.RunAsync(flags)).EnsureSuccess("second install-worker.sh");

        Assert.Equal(first, Snapshot(run.DestDir));
        Assert.Contains("kept the existing signing key", second.Stdout, StringComparison.Ordinal);
        Assert.Contains("kept the existing origin login key", second.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InstallWorker_OverAnOlderInstall_RemovesTheLegacyHostKeyFileForThePinsInTheConfig()
    {
        using var run = new InstallWorkerRun();
        Directory.CreateDirectory(run.InRoot("/etc/buildfarm"));
        File.WriteAllText(run.InRoot(LegacyOriginHostKeys), HostKey + "\n");

        var result = (await run.RunAsync(FullFlags(FixedDispatcherKey))).EnsureSuccess("install-worker.sh");

        Assert.False(File.Exists(run.InRoot(LegacyOriginHostKeys)));
        Assert.Contains($"removed {LegacyOriginHostKeys}", result.Stdout, StringComparison.Ordinal);
        Assert.Contains(HostKey, File.ReadAllText(run.InRoot(Config)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--slots", "0", "buildfarm-worker init: error: --slots: Slots = 0 is invalid: must be between 1 and 1024")]
    [InlineData("--slots", "2000", "buildfarm-worker init: error: --slots: Slots = 2000 is invalid: must be between 1 and 1024")]
    [InlineData("--speed", "fast", "buildfarm-worker init: error: --speed: 'fast' is not a number greater than 0")]
    [InlineData("--systems", "x86.64", "buildfarm-worker init: error: --systems: Systems item 'x86.64' is invalid")]
    [InlineData("--broker-uri", "http://rabbit:5672/", "buildfarm-worker init: error: --broker-uri: Broker:Uri 'http://rabbit:5672/' is not an amqp://")]
    [InlineData("--dispatcher-key", "dispatcher-1:notakey", "buildfarm-worker init: error: --dispatcher-key: 'dispatcher-1:notakey' is not an Ed25519 public key")]
    [InlineData("--origin-host-key", "MD5:ab:cd", "buildfarm-worker init: error: --origin-host-key: 'MD5:ab:cd' is not an OpenSSH fingerprint")]
    [InlineData("--origin-host-key", "SHA256:tooShort", "buildfarm-worker init: error: --origin-host-key: 'SHA256:tooShort' is not an OpenSSH fingerprint SHA256:BASE64")]
    [InlineData("--origin", "origin.example:70000", "buildfarm-worker init: error: --origin: port '70000' of 'origin.example:70000' is not a port from 1 to 65535")]
    [InlineData("--origin", "user@origin", "buildfarm-worker init: error: --origin: 'user@origin' is not HOST or HOST:PORT")]
    [InlineData("--origin-host-key-file", "/nonexistent/host.pub", "buildfarm-worker init: error: --origin-host-key-file: '/nonexistent/host.pub' is not a readable file")]
    [InlineData("--origin-key", "origin:AAAA", "buildfarm-worker init: error: --origin-key: 'origin:AAAA' is not an Ed25519 public key")]
    [InlineData("--store-dir", "nix/store", "buildfarm-worker init: error: --store-dir: Store:StoreDir 'nix/store' is invalid")]
    [InlineData("--frobnicate", "1", "install-worker.sh: error: unknown flag '--frobnicate'")]
    public async Task InstallWorker_BadFlag_FailsWithTheReasonAndCreatesNothing(string flag, string value, string message)
    {
        using var run = new InstallWorkerRun();
        var flags = FullFlags(FixedDispatcherKey).ToList();
        var at = flags.IndexOf(flag);
        if (at >= 0)
            flags[at + 1] = value;
        else
            flags.AddRange([flag, value]);

        var result = await run.RunAsync([.. flags]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(run.DestDir));
    }

    [Theory]
    [InlineData("--origin-host-key", "buildfarm-worker init: error: --origin-host-key needs --origin HOST[:PORT]")]
    [InlineData("--origin", "buildfarm-worker init: error: --origin origin.example needs its host key")]
    public async Task InstallWorker_OriginWithoutHostKeyOrKeyWithoutOrigin_FailsAndCreatesNothing(string kept, string message)
    {
        using var run = new InstallWorkerRun();
        var flags = FullFlags(FixedDispatcherKey).ToList();
        var drop = kept == "--origin" ? "--origin-host-key" : "--origin";
        flags.RemoveRange(flags.IndexOf(drop), 2);

        var result = await run.RunAsync([.. flags]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(run.DestDir));
    }

    [Fact]
    public async Task InstallWorker_NoBuildfarmBinary_SaysWhatIsMissingAndCreatesNothing()
    {
        using var run = new InstallWorkerRun(withBuildfarm: false);

        var result = await run.RunAsync(FullFlags(FixedDispatcherKey));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"--binary-dir: '{run.BinDir}' has no executable buildfarm (it prints the signing key's public half", result.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(run.DestDir));
    }

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString() ?? "")];

    private static SortedDictionary<string, string> Snapshot(string root) =>
        new(Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).ToDictionary(
            p => p[root.Length..],
            p => Convert.ToString((int)File.GetUnixFileMode(p), 8) + (File.Exists(p) ? " " + File.ReadAllText(p) : "")),
            StringComparer.Ordinal);
}
