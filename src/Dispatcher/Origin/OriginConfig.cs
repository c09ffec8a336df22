using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Store.Signing;
using BuildFarm.Transfer.Exec;
using BuildFarm.Transfer.Origins;

namespace BuildFarm.Dispatcher.Origin;

/// <summary>The origin as requests carry it, and the worker keys whose returned outputs the origin accepts.</summary>
internal sealed record OriginConfig(OriginEndpoint Endpoint, TrustedKeysFile WorkerKeys)
{
    /// <summary>
    /// Resolves <c>Dispatcher:Origin</c> and <c>Dispatcher:TrustedWorkerKeysFile</c>: null when no origin is
    /// configured; every problem is added to <paramref name="errors"/>, naming the key, the value and what is valid.
    /// </summary>
    public static OriginConfig? Resolve(DispatcherOptions options, List<string> errors)
    {
        var o = options.Origin;
        if (!o.IsConfigured)
            return null;
        var before = errors.Count;
        if (o.Port is < 1 or > 65535)
            errors.Add($"Dispatcher:Origin:Port '{o.Port}' is out of range: use 1..65535 (sshd's default is 22)");
        if (string.IsNullOrWhiteSpace(o.User))
            errors.Add("Dispatcher:Origin:User is empty: give the login user workers use on the origin (e.g. buildfarm)");
        var fingerprint = ResolveFingerprint(o, errors);
        TrustedKeysFile? keys = null;
        if (string.IsNullOrWhiteSpace(options.TrustedWorkerKeysFile))
            errors.Add("Dispatcher:TrustedWorkerKeysFile is empty but Dispatcher:Origin is set: give a file of the workers' public keys (name:base64, one a line) whose returned outputs are accepted");
        else if (!File.Exists(options.TrustedWorkerKeysFile))
            errors.Add($"Dispatcher:TrustedWorkerKeysFile '{options.TrustedWorkerKeysFile}' does not exist");
        else
        {
            // Re-read on every import when it changes (TrustedKeysFile); at start-up a bad file refuses to start.
            keys = TrustedKeysFile.Load(options.TrustedWorkerKeysFile, out var problem);
            if (problem is not null)
                errors.Add("Dispatcher:TrustedWorkerKeysFile: " + problem);
        }

        if (errors.Count > before || fingerprint is null || keys is null)
            return null;
        var command = string.IsNullOrWhiteSpace(o.RemoteCommand) ? DefaultRemoteCommand(options) : o.RemoteCommand.Trim();
        return new OriginConfig(new OriginEndpoint(o.Host.Trim(), o.Port, o.User.Trim(), fingerprint, command), keys);
    }

    /// <summary>
    /// This executable (or <c>dotnet buildfarm.dll</c>) with the origin store's flags: the store (<c>--nix</c>, or
    /// <c>--root</c>) and the dispatcher's signing key, with which the origin signs every path it serves.
    /// </summary>
    public static string DefaultRemoteCommand(DispatcherOptions options)
    {
        var process = UserFacingExecutable(Environment.ProcessPath ?? "buildfarm");
        var self = Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? ShellCommand.Quote(process) + " " + ShellCommand.Quote((System.Reflection.Assembly.GetEntryAssembly() ?? typeof(OriginConfig).Assembly).Location)
            : ShellCommand.Quote(process);
        string[] store = options.Origin.IsNixStore ? ["--store-dir", options.StoreDir, "--nix"] : ["--store-dir", options.StoreDir, "--root", options.Root];
        return ShellCommand.Join(self, [.. store, "--signing-key-file", options.SigningKeyFile]);
    }

    /// <summary>
    /// The name users run this executable by: an installation from <c>./farm build</c> runs <c>serve</c> as
    /// <c>buildfarm-cli</c>, exec'd by the NativeAOT front <c>buildfarm</c> beside it (src/CliHost), and the origin's
    /// command is named as before, <c>…/buildfarm</c> (which <c>origin-serve</c> accepts as the program).
    /// </summary>
    internal static string UserFacingExecutable(string processPath) =>
        Path.GetFileName(processPath) == "buildfarm-cli" && Path.GetDirectoryName(processPath) is { } dir
                                                        && File.Exists(Path.Combine(dir, "buildfarm"))
            ? Path.Combine(dir, "buildfarm")
            : processPath;

    /// <summary>OpenSSH's fingerprint of a public key line (<c>type base64 [comment]</c>), as <c>ssh-keygen -lf</c> prints it.</summary>
    public static string? FingerprintOfPublicKey(string text, out string? error) =>
        HostKeyFingerprint.TryOfPublicKey(text, out var fingerprint, out error) ? fingerprint : null;

    private static string? ResolveFingerprint(OriginOptions o, List<string> errors)
    {
        var hasPrint = !string.IsNullOrWhiteSpace(o.HostKeyFingerprint);
        var hasFile = !string.IsNullOrWhiteSpace(o.HostPublicKeyFile);
        if (hasPrint == hasFile)
        {
            errors.Add(hasPrint
                ? "Dispatcher:Origin: give HostKeyFingerprint or HostPublicKeyFile, not both"
                : "Dispatcher:Origin:HostKeyFingerprint is empty: pin the origin's host key as 'SHA256:base64' (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), or set HostPublicKeyFile");
            return null;
        }

        if (hasPrint)
        {
            if (HostKeyFingerprint.TryParse(o.HostKeyFingerprint, out var canonical, out var error))
                return canonical;
            errors.Add($"Dispatcher:Origin:HostKeyFingerprint '{o.HostKeyFingerprint}': {error}");
            return null;
        }

        if (!File.Exists(o.HostPublicKeyFile))
        {
            errors.Add($"Dispatcher:Origin:HostPublicKeyFile '{o.HostPublicKeyFile}' does not exist (e.g. /etc/ssh/ssh_host_ed25519_key.pub)");
            return null;
        }

        var print = FingerprintOfPublicKey(File.ReadAllText(o.HostPublicKeyFile), out var keyError);
        if (print is null)
            errors.Add($"Dispatcher:Origin:HostPublicKeyFile '{o.HostPublicKeyFile}': {keyError}");
        return print;
    }
}
