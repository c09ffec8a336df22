using System.Globalization;
using BuildFarm.Store.Signing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Keys;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// What <c>buildfarm-worker init</c> does: flags to <see cref="WorkerOptions"/>, the key files it owns staged in a
/// scratch directory, the whole config checked by <see cref="WorkerOptionsValidator"/> and <see cref="WorkerKeys"/>
/// (the worker's own start-up checks) against the staged files, and only then every file put in place.
/// </summary>
internal sealed class WorkerInit(string configFile, string? destdir, TextWriter output)
{
    private const UnixFileMode Secret = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Public = Secret | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode GroupReadable = Secret | UnixFileMode.GroupRead;

    // Validator keys to the flags that set them, so every problem names what to change on the command line.
    private static readonly (string Key, string Flag)[] Flags =
    [
        ("Origins:PinnedHostKeys", "--origin"), ("Origins:PrivateKeyFile", "--origin-private-key-file"),
        ("Origins:TrustedInputKeysFile", "--trusted-input-keys-file"), ("Keys:SigningKeyFile", "--signing-key-file"),
        ("Keys:TrustedDispatcherKeysFile", "--trusted-dispatcher-keys-file"), ("Store:StoreDir", "--store-dir"),
        ("Store:Root", "--root"), ("Broker:PasswordFile", "--broker-password-file"), ("Broker:CaCertificateFile", "--broker-ca-file"), ("Broker", "--broker-uri"), ("Name", "--name"), ("Systems", "--systems"),
        ("SupportedFeatures", "--features"), ("MandatoryFeatures", "--mandatory-features"), ("Slots", "--slots"),
        ("SpeedFactor", "--speed"), ("HeartbeatInterval", "--heartbeat-interval"), ("BuildDir", "--build-dir"),
    ];

    private readonly List<(string Path, string Text, UnixFileMode Mode, string Note)> _files = [];

    /// <summary>The problems (none: every file is written, unless <paramref name="dryRun"/>).</summary>
    public async Task<List<string>> RunAsync(InitFlags flags, bool dryRun, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var options = flags.ToOptions(problems);
        if (problems.Count > 0)
            return problems;

        var nameValid = !WorkerOptionsValidator.Problems(options).Any(p => p.StartsWith("Name ", StringComparison.Ordinal));
        PlanSigningKey(options, nameValid, problems);
        PlanKeyFile("--dispatcher-key", flags.List("--dispatcher-key"), options.Keys.TrustedDispatcherKeysFile, problems);
        if (flags["--origin"] is not null)
        {
            var inputKeys = flags.List("--origin-key");
            PlanKeyFile("--origin-key", inputKeys.Length > 0 ? inputKeys : flags.List("--dispatcher-key"), options.Origins.TrustedInputKeysFile, problems);
        }

        if (problems.Count > 0)
            return problems;

        var stage = Directory.CreateTempSubdirectory("buildfarm-worker-init-");
        try
        {
            problems.AddRange(Validate(options, stage.FullName, dryRun));
            if (problems.Count > 0 || dryRun)
                return problems;
            foreach (var (path, text, mode, note) in _files)
            {
                await WriteAsync(InRoot(path), text, mode, cancellationToken);
                output.WriteLine(note);
            }

            await WriteAsync(InRoot(configFile), WorkerConfigFile.Serialize(options), GroupReadable, cancellationToken);
            output.WriteLine($"wrote {configFile}");
            return problems;
        }
        finally
        {
            stage.Delete(recursive: true);
        }
    }

    private string InRoot(string path) => string.IsNullOrEmpty(destdir) ? path : destdir.TrimEnd('/') + path;

    /// <summary>The worker's checks on a copy whose files are those about to be written (staged) or already there.</summary>
    private List<string> Validate(WorkerOptions options, string stage, bool dryRun)
    {
        // Each path maps to its staged copy (written here) or to its place below destdir; `shown` maps back, so a
        // problem names the path of the real machine, never the scratch one.
        var shown = new Dictionary<string, string>(StringComparer.Ordinal);
        string Map(string path)
        {
            if (path.Length == 0)
                return path;
            var planned = _files.FindIndex(f => f.Path == path);
            var mapped = planned >= 0 ? Path.Combine(stage, planned.ToString(CultureInfo.InvariantCulture)) : InRoot(path);
            if (planned >= 0)
            {
                // The staged copy gets the mode the real file will have: a secret key is checked for 0600 too.
                File.WriteAllText(mapped, _files[planned].Text);
                File.SetUnixFileMode(mapped, _files[planned].Mode);
            }
            else if (dryRun && path == options.Origins.PrivateKeyFile && !File.Exists(mapped))
            {
                // The installer makes it after this check, 0600 (OpenSSH's client refuses a key others may read).
                File.WriteAllText(mapped = Path.Combine(stage, "origin-login-key"), "");
                File.SetUnixFileMode(mapped, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            shown[mapped] = path;
            return mapped;
        }

        var check = WorkerConfigFile.Copy(options);
        check.Keys.SigningKeyFile = Map(check.Keys.SigningKeyFile);
        check.Keys.TrustedDispatcherKeysFile = Map(check.Keys.TrustedDispatcherKeysFile);
        check.Origins.PrivateKeyFile = Map(check.Origins.PrivateKeyFile);
        check.Origins.TrustedInputKeysFile = Map(check.Origins.TrustedInputKeysFile);
        var problems = WorkerOptionsValidator.Problems(check);
        if (problems.Count == 0)
        {
            try
            {
                _ = WorkerKeys.Load(check.Keys);
            }
            catch (InvalidOperationException e)
            {
                problems.Add(e.Message);
            }
        }

        return [.. problems.Select(p => NameFlag(shown.Aggregate(p, (text, m) => text.Replace(m.Key, m.Value, StringComparison.Ordinal))))];
    }

    private static string NameFlag(string problem)
    {
        foreach (var (key, flag) in Flags)
        {
            if (problem.StartsWith(key, StringComparison.Ordinal) && problem.Length > key.Length && problem[key.Length] is ' ' or ':')
                return $"{flag}: {problem}";
        }

        return problem;
    }

    private void PlanSigningKey(WorkerOptions options, bool nameValid, List<string> problems)
    {
        var path = options.Keys.SigningKeyFile;
        if (path.Length == 0)
        {
            problems.Add("--signing-key-file is required: the secret key the worker signs outputs with (made when missing)");
            return;
        }

        if (File.Exists(InRoot(path)))
        {
            if (SecretKeyFile.CheckPermissions(InRoot(path)) is { } exposed)
                problems.Add($"--signing-key-file: {exposed}");
            else if (!SigningKey.TryParse(File.ReadAllText(InRoot(path)).Trim(), out _, out var error))
                problems.Add($"--signing-key-file: existing {InRoot(path)} is not an Ed25519 secret key NAME:BASE64 ({error}); move it away to generate a new one");
            else
                output.WriteLine($"kept the existing signing key {path}");
        }
        else if (nameValid)
        {
            _files.Add((path, SigningKey.Generate(options.Name) + "\n", Secret, $"generated signing key {path}"));
        }
    }

    private void PlanKeyFile(string flag, string[] keys, string path, List<string> problems)
    {
        if (keys.Length == 0)
            return;
        foreach (var key in keys)
        {
            if (!VerifyingKey.TryParse(key, out _, out var error))
                problems.Add($"{flag}: '{key}' is not an Ed25519 public key NAME:BASE64 ({error})");
        }

        if (path.Length == 0)
            problems.Add($"{flag} needs the file to write it to ({(flag == "--dispatcher-key" ? "--trusted-dispatcher-keys-file" : "--trusted-input-keys-file")})");
        else
            _files.Add((path, string.Join("", keys.Select(k => k + "\n")), Public, $"wrote {path}"));
    }

    private static async Task WriteAsync(string path, string text, UnixFileMode mode, CancellationToken cancellationToken)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        await using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode }))
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellationToken);
        File.SetUnixFileMode(temp, mode);
        // Checkpoint: the rename is atomic; a reader (a restarting worker) sees the old file or the new one, never half.
        File.Move(temp, path, overwrite: true);
    }
}
