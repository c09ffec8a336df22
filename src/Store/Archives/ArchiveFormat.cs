namespace BuildFarm.Store.Archives;

/// <summary>The two archive forms (see docs/archive-format.md).</summary>
public enum ArchiveFormat
{
    /// <summary>Exactly <c>nix-store --export</c>: no NAR hashes, no signatures.</summary>
    NixExport,

    /// <summary>BuildFarm's form: a magic header, then per path its metadata and signatures before its NAR.</summary>
    BuildFarmSigned,
}

/// <summary>What to export: the given paths, or their whole closure; in which form.</summary>
/// <param name="Format">Nix's export form, or BuildFarm's signed form.</param>
/// <param name="Closure">Export the paths' whole closure.</param>
/// <param name="SigningKey">
/// Signed form only: sign every path with this key as it is written (an origin signing what it serves), replacing an
/// older signature by the same key name; the recorded signatures are sent as well.
/// </param>
/// <param name="SynchronousOutput">
/// The output may be written synchronously on the calling thread (the CLI's stdout): each NAR is then serialised
/// by <see cref="Nar.NarSerializer"/> (no task per file or token, four system calls per file) instead of
/// <see cref="Nar.NarWriter"/>. An output that must not block a thread-pool thread (a worker's upload channel) keeps
/// the asynchronous writer. The bytes are the same.
/// </param>
/// <param name="VerifyContents">
/// Hash every NAR as it is written and abort the export on a path whose files no longer match the hash the store
/// recorded (the default). Off (with <paramref name="SynchronousOutput"/> only; the asynchronous writer always hashes),
/// only the NAR's size is compared, after it is written: for the signed form, whose every reader must hash each NAR
/// against the hash and size written before it and refuse the path on a mismatch (<see cref="ArchiveImporter"/>
/// does, all or nothing), so the origin's SHA-256 would be a second check of the same bytes. Never off for the Nix
/// form: <c>nix-store --import</c> records whatever hash the NAR it reads has.
/// </param>
public sealed record ExportOptions(
    ArchiveFormat Format = ArchiveFormat.NixExport,
    bool Closure = false,
    Signing.SigningKey? SigningKey = null,
    bool SynchronousOutput = false,
    bool VerifyContents = true);

/// <summary>
/// How to import. With <paramref name="CheckSignatures"/> every path needs a valid signature by one of
/// <paramref name="TrustedKeys"/>; without it paths are accepted unsigned (their NAR hashes are still checked).
/// With <paramref name="ExpectedNarHashes"/> (full store path → NAR hash) every path of the archive must be one of its
/// keys and carry exactly that hash (a worker pulling a build's inputs checks them against the request); any other
/// path or hash rejects the whole archive. With <paramref name="OutputsOf"/> the archive returns a build's outputs:
/// every path must be an output of that derivation, and a fixed output must hold its declared content, checked on the
/// restored copy before anything becomes valid. With <paramref name="StallTimeout"/> a stream that brings no byte for
/// that long is given up (<see cref="Streams.StreamStalledException"/>); with or without it, cancelling the import
/// returns at once even while a read is pending. Either way the temporary entries are deleted before it returns.
/// </summary>
public sealed record ImportOptions(
    Signing.TrustedKeys? TrustedKeys,
    bool CheckSignatures = true,
    IReadOnlyDictionary<string, Hashing.NixHash>? ExpectedNarHashes = null,
    ReturnedOutputs? OutputsOf = null,
    TimeSpan? StallTimeout = null,
    TimeProvider? Time = null)
{
    /// <summary>How long a sender over the network may go silent mid-archive (the CLI's and the worker's default).</summary>
    public static readonly TimeSpan DefaultStallTimeout = TimeSpan.FromMinutes(5);
}

internal static class ArchiveMagic
{
    /// <summary>Marks the end of each path's metadata in a Nix export ("NIXE").</summary>
    public const ulong ExportMagic = 0x4558494e;

    /// <summary>The first string of a signed archive.</summary>
    public const string SignedHeader = "buildfarm-archive-signed-1";
}
