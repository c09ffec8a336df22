using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>The installer's worker.json read the way the worker reads it: bound to WorkerOptions and validated.</summary>
public sealed class InstallWorkerConfigTests
{
    private const string DispatcherKey = "dispatcher-1:q5qAfa6NdRZOx/iro8SUYSBQBd2F3vVCF9tdutApkbw=";
    private const string OriginKey = "origin-store:Nag/C9RsRS0CRkUCzHROuMXqRRULa4GcR1oWXm/8Vcw=";
    private const string HostKey = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

    [Fact]
    public async Task InstallWorker_Config_BindsToWorkerOptionsWithNoUnknownKey()
    {
        using var run = new InstallWorkerRun();
        var result = await run.RunAsync(
            "--name", "builder-2", "--systems", "aarch64-linux", "--features", "big-parallel", "--slots", "2", "--speed", "3",
            "--broker-uri", "amqp://bf:secret@rabbit:5672/", "--dispatcher-key", DispatcherKey, "--allow-unsandboxed");
        Assert.True(result.ExitCode == 0, $"install-worker.sh exited {result.ExitCode}: {result.Stderr}");

        var options = Bind(run);

        Assert.Equal("builder-2", options.Name);
        Assert.Equal(["aarch64-linux"], options.Systems);
        Assert.Equal(["big-parallel"], options.SupportedFeatures);
        Assert.Equal(2, options.Slots);
        Assert.Equal(3.0, options.SpeedFactor);
        Assert.Equal("/var/lib/buildfarm-worker/store", options.Store.Root);
        Assert.Equal("/etc/buildfarm/trusted-dispatcher-keys", options.Keys.TrustedDispatcherKeysFile);
        Assert.Equal("/var/lib/buildfarm-worker/keys/signing.secret", options.Keys.SigningKeyFile);
        Assert.Equal("amqp://bf:secret@rabbit:5672/", options.Broker.Uri);
        Assert.True(options.AllowUnsandboxed);
        // No --origin: no Origins section, and no origin key was made.
        Assert.Empty(options.Origins.PinnedHostKeys);
        Assert.Equal("", options.Origins.PrivateKeyFile);
        Assert.False(File.Exists(run.InRoot("/var/lib/buildfarm-worker/keys/origin_ed25519")));
        Assert.Contains("No --origin", result.Stdout, StringComparison.Ordinal);
        Assert.Empty(WorkerOptionsValidator.Problems(options));
    }

    [Fact]
    public async Task InstallWorker_BrokerUserFiles_PasswordAndCaFileReachTheConfig()
    {
        using var run = new InstallWorkerRun();
        using var secrets = new TempDirectory("bf-broker-secrets");
        var password = secrets.Combine("buildfarm-worker-builder-4.password");
        SecretKeyFiles.Write(password, "s3cret");
        var ca = secrets.Combine("ca.pem");
        using (var key = System.Security.Cryptography.ECDsa.Create())
        {
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test broker CA", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            await File.WriteAllTextAsync(ca, cert.ExportCertificatePem());
        }

        var result = await run.RunAsync(
            "--name", "builder-4", "--broker-uri", "amqps://buildfarm-worker-builder-4@rabbit:5671/", "--dispatcher-key", DispatcherKey,
            "--broker-password-file", password, "--broker-ca-file", ca, "--allow-unsandboxed");
        Assert.True(result.ExitCode == 0, $"install-worker.sh exited {result.ExitCode}: {result.Stderr}");

        var options = Bind(run);
        Assert.Equal(("amqps://buildfarm-worker-builder-4@rabbit:5671/", password, ca), (options.Broker.Uri, options.Broker.PasswordFile, options.Broker.CaCertificateFile));
    }

    [Fact]
    public async Task InstallWorker_Origin_WritesPinsLoginKeyAndTrustedInputKeysTheValidatorAccepts()
    {
        using var run = new InstallWorkerRun();
        using var host = new TempDirectory("bf-origin-host");
        var hostKey = host.Combine("ssh_host_ed25519_key");
        (await ProcessRunner.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])).EnsureSuccess("ssh-keygen");
        var fromFile = (await ProcessRunner.RunAsync("ssh-keygen", ["-l", "-E", "sha256", "-f", hostKey + ".pub"])).EnsureSuccess("ssh-keygen -l").Stdout.Split(' ')[1];

        var result = await run.RunAsync(
            "--name", "builder-3", "--broker-uri", "amqp://bf:secret@rabbit:5672/", "--dispatcher-key", DispatcherKey,
            "--origin", "origin.example:2222", "--origin-host-key", HostKey, "--origin-host-key-file", hostKey + ".pub",
            "--origin-key", OriginKey + "," + DispatcherKey);
        Assert.True(result.ExitCode == 0, $"install-worker.sh exited {result.ExitCode}: {result.Stderr}");

        var options = Bind(run);
        var o = options.Origins;
        Assert.Equal(
            [("origin.example", 2222, HostKey), ("origin.example", 2222, fromFile)],
            o.PinnedHostKeys.Select(p => (p.Host, p.Port, p.Fingerprint)));
        Assert.Equal("/var/lib/buildfarm-worker/keys/origin_ed25519", o.PrivateKeyFile);
        Assert.Equal("/etc/buildfarm/trusted-origin-keys", o.TrustedInputKeysFile);
        Assert.Equal([OriginKey, DispatcherKey], File.ReadAllLines(run.InRoot(o.TrustedInputKeysFile)));

        // The login key: an OpenSSH private key without passphrase, readable by its owner only, whose public half is
        // the `origin login key:` line to put into the origin's authorized_keys.
        var privateKey = run.InRoot(o.PrivateKeyFile);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privateKey));
        var derived = (await ProcessRunner.RunAsync("ssh-keygen", ["-y", "-P", "", "-f", privateKey])).EnsureSuccess("ssh-keygen -y").Stdout.Trim();
        Assert.StartsWith("ssh-ed25519 ", derived, StringComparison.Ordinal);
        var printed = result.Stdout.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("origin login key: ", StringComparison.Ordinal));
        Assert.StartsWith("origin login key: " + derived + " ", printed + " ", StringComparison.Ordinal);
        // ...restricted by a forced `buildfarm origin-serve` (the whole line to paste).
        var line = result.Stdout.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("origin authorized_keys line: ", StringComparison.Ordinal));
        Assert.Equal(
            "origin authorized_keys line: command=\"/opt/buildfarm/bin/buildfarm --store-dir /nix/store --root /var/lib/buildfarm/origin origin-serve\",restrict " + printed["origin login key: ".Length..],
            line);

        // The worker's own start-up validation. On this machine the paths of the real one do not exist, which it
        // says; with them mapped into the scratch root it accepts the whole config.
        Assert.Equal(
            [$"Origins:PrivateKeyFile '{o.PrivateKeyFile}' does not exist", $"Origins:TrustedInputKeysFile '{o.TrustedInputKeysFile}' does not exist"],
            WorkerOptionsValidator.Problems(options));
        o.PrivateKeyFile = privateKey;
        o.TrustedInputKeysFile = run.InRoot(o.TrustedInputKeysFile);
        Assert.Empty(WorkerOptionsValidator.Problems(options));
    }

    /// <summary>What <c>buildfarm-worker check</c> does: unknown keys are errors, so a misspelt key cannot be silently ignored.</summary>
    private static WorkerOptions Bind(InstallWorkerRun run)
    {
        var options = new WorkerOptions();
        new ConfigurationBuilder().AddJsonFile(run.InRoot("/etc/buildfarm/worker.json")).Build()
            .Bind(options, b => b.ErrorOnUnknownConfiguration = true);
        return options;
    }
}
