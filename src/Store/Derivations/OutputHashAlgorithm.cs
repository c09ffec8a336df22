using System.Security.Cryptography;

namespace BuildFarm.Store.Derivations;

/// <summary>The hash algorithms Nix accepts for fixed outputs (<c>outputHashAlgo</c>).</summary>
public enum OutputHashAlgorithm
{
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

public static class OutputHashAlgorithms
{
    public static string Name(this OutputHashAlgorithm algorithm) => algorithm switch
    {
        OutputHashAlgorithm.Md5 => "md5",
        OutputHashAlgorithm.Sha1 => "sha1",
        OutputHashAlgorithm.Sha256 => "sha256",
        OutputHashAlgorithm.Sha512 => "sha512",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, null),
    };

    /// <summary>Digest length in bytes.</summary>
    public static int Size(this OutputHashAlgorithm algorithm) => algorithm switch
    {
        OutputHashAlgorithm.Md5 => 16,
        OutputHashAlgorithm.Sha1 => 20,
        OutputHashAlgorithm.Sha256 => 32,
        OutputHashAlgorithm.Sha512 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, null),
    };

    public static bool TryParse(string name, out OutputHashAlgorithm algorithm)
    {
        switch (name)
        {
            case "md5": algorithm = OutputHashAlgorithm.Md5; return true;
            case "sha1": algorithm = OutputHashAlgorithm.Sha1; return true;
            case "sha256": algorithm = OutputHashAlgorithm.Sha256; return true;
            case "sha512": algorithm = OutputHashAlgorithm.Sha512; return true;
            default: algorithm = default; return false;
        }
    }

    /// <summary>The name <see cref="IncrementalHash"/> and <c>HashingStream</c> take.</summary>
    public static HashAlgorithmName HashAlgorithmName(this OutputHashAlgorithm algorithm) => algorithm switch
    {
        OutputHashAlgorithm.Md5 => System.Security.Cryptography.HashAlgorithmName.MD5,
        OutputHashAlgorithm.Sha1 => System.Security.Cryptography.HashAlgorithmName.SHA1,
        OutputHashAlgorithm.Sha256 => System.Security.Cryptography.HashAlgorithmName.SHA256,
        OutputHashAlgorithm.Sha512 => System.Security.Cryptography.HashAlgorithmName.SHA512,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, null),
    };

    public static byte[] HashData(this OutputHashAlgorithm algorithm, ReadOnlySpan<byte> data) => algorithm switch
    {
#pragma warning disable CA5351 // MD5 is a legal (if weak) fixed-output algorithm in Nix; we only verify with it.
        OutputHashAlgorithm.Md5 => MD5.HashData(data),
#pragma warning restore CA5351
#pragma warning disable CA5350 // SHA-1 likewise (fetchurl's sha1 = "...").
        OutputHashAlgorithm.Sha1 => SHA1.HashData(data),
#pragma warning restore CA5350
        OutputHashAlgorithm.Sha256 => SHA256.HashData(data),
        OutputHashAlgorithm.Sha512 => SHA512.HashData(data),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, null),
    };
}
