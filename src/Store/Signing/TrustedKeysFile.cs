using Serilog;
using ILogger = Serilog.ILogger;

namespace BuildFarm.Store.Signing;

/// <summary>
/// A file of trusted public keys (<c>name:base64</c>, one a line), re-read when it changes, so trusting or revoking a
/// key needs no restart: the dispatcher's <c>Dispatcher:TrustedWorkerKeysFile</c> (whose signed outputs it imports)
/// and a worker's <c>Origins:TrustedInputKeysFile</c> (whose signed inputs it imports).
/// </summary>
/// <remarks>
/// <see cref="Current"/> compares the file's bytes with those of the last read on every call (one small read per
/// import, no watcher, no timestamp granularity to trip over). A file that cannot be read, does not parse or holds
/// no key keeps the last good set and logs one error per distinct problem: a half-written rewrite never revokes every
/// key, and the next call after the write completes picks up the new set.
/// </remarks>
public sealed class TrustedKeysFile
{
    private readonly Lock _gate = new();
    private readonly string? _file;
    private readonly ILogger? _log;
    private TrustedKeys _keys;
    private byte[] _lastBytes;
    private string? _lastProblem;

    private TrustedKeysFile(string? file, TrustedKeys keys, byte[] bytes, ILogger? log)
    {
        _file = file;
        _keys = keys;
        _lastBytes = bytes;
        _log = log;
    }

    /// <summary>The file this set is reloaded from; null for a fixed set.</summary>
    public string? File => _file;

    /// <summary>A set that never changes (tests, callers without a file).</summary>
    public static TrustedKeysFile Fixed(TrustedKeys keys) => new(null, keys, [], null);

    /// <summary>
    /// Reads the file once (start-up): a problem is returned, naming the file and line, and nothing is created.
    /// <paramref name="log"/> defaults to Serilog's static logger at the time of each message.
    /// </summary>
    public static TrustedKeysFile? Load(string file, out string? problem, ILogger? log = null)
    {
        byte[] bytes;
        try
        {
            bytes = System.IO.File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"'{file}' cannot be read: {e.Message}";
            return null;
        }

        var keys = Parse(file, bytes, out problem);
        return keys is null ? null : new TrustedKeysFile(file, keys, bytes, log);
    }

    /// <summary>The current set: the file's keys if it changed and is good, else the last good set.</summary>
    public TrustedKeys Current()
    {
        if (_file is null)
            return _keys;
        lock (_gate)
        {
            byte[] bytes;
            try
            {
                bytes = System.IO.File.ReadAllBytes(_file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Problem($"cannot be read: {e.Message}");
                return _keys;
            }

            if (bytes.AsSpan().SequenceEqual(_lastBytes))
                return _keys;
            var keys = Parse(_file, bytes, out var problem);
            if (keys is null)
            {
                Problem(problem!);
                return _keys;
            }

            var before = _keys.Keys.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
            var after = keys.Keys.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
            _keys = keys;
            _lastBytes = bytes;
            _lastProblem = null;
            (_log ?? Log.Logger).Information(
                "Reloaded trusted keys from {File}: {Count} keys, added {Added}, removed {Removed}",
                _file, keys.Keys.Count, after.Except(before).Order(StringComparer.Ordinal).ToArray(), before.Except(after).Order(StringComparer.Ordinal).ToArray());
            return _keys;
        }
    }

    private static TrustedKeys? Parse(string file, byte[] bytes, out string? problem)
    {
        try
        {
            var keys = TrustedKeys.Parse(System.Text.Encoding.UTF8.GetString(bytes), file);
            problem = keys.Keys.Count == 0 ? $"'{file}' holds no key: add the trusted public key(s), name:base64, one a line" : null;
            return problem is null ? keys : null;
        }
        catch (FormatException e)
        {
            problem = e.Message;
            return null;
        }
    }

    /// <summary>Logs a problem once until it changes or the file becomes good again (imports must not flood the log).</summary>
    private void Problem(string problem)
    {
        if (problem == _lastProblem)
            return;
        _lastProblem = problem;
        (_log ?? Log.Logger).Error(
            "Trusted keys file {File} is unusable, keeping the last good {Count} keys: {Problem}",
            _file, _keys.Keys.Count, problem);
    }
}
