using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Signing;

public sealed class SecretKeyFileTests : IDisposable
{
    private readonly TempDirectory _dir = new("secret-key");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TryRead_OwnerOnlyFile_ReturnsTheKey()
    {
        var key = SigningKey.Generate("owner-1");
        var file = _dir.Combine("owner.sec");
        SecretKeyFiles.Write(file, key + "\n");

        Assert.True(SecretKeyFile.TryRead(file, out var read, out var error), error);
        Assert.Equal(key.ToString(), read!.ToString());
    }

    [Theory]
    [InlineData(UnixFileMode.GroupRead, "0640")]
    [InlineData(UnixFileMode.OtherRead, "0604")]
    [InlineData(UnixFileMode.GroupRead | UnixFileMode.OtherRead, "0644")]
    public void TryRead_ReadableByGroupOrOthers_RefusedNamingFileModeAndFix(UnixFileMode extra, string octal)
    {
        var file = _dir.Combine("open.sec");
        SecretKeyFiles.Write(file, SigningKey.Generate("open-1") + "\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | extra);

        Assert.False(SecretKeyFile.TryRead(file, out var key, out var error));
        Assert.Null(key);
        Assert.Equal($"secret key file '{file}' is accessible by group or others (mode {octal}): anyone who can read it can sign as this key; restrict it with `chmod 600 {file}`", error);
    }

    [Fact]
    public void Read_WorldReadableFile_ThrowsFormatExceptionWithTheFix()
    {
        var file = _dir.Combine("world.sec");
        File.WriteAllText(file, SigningKey.Generate("world-1") + "\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var e = Assert.Throws<FormatException>(() => SecretKeyFile.Read(file));

        Assert.Contains($"chmod 600 {file}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_NotAKey_ErrorNamesTheFile()
    {
        var file = _dir.Combine("junk.sec");
        SecretKeyFiles.Write(file, "junk\n");

        Assert.False(SecretKeyFile.TryRead(file, out _, out var error));
        Assert.StartsWith($"secret key file '{file}': ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_MissingFile_ErrorNamesTheFile()
    {
        var file = _dir.Combine("absent.sec");

        Assert.False(SecretKeyFile.TryRead(file, out _, out var error));
        Assert.StartsWith($"secret key file '{file}' cannot be read: ", error, StringComparison.Ordinal);
    }
}
