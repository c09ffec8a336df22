using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace BuildFarm.Transfer.Connections;

/// <summary>
/// Verifies the server's host key against the pinned fingerprints during key exchange. An unpinned key sets
/// <c>CanTrust = false</c>, which makes SSH.NET abort the handshake before authentication; <see cref="ThrowIfRefused"/>
/// turns that abort into a <see cref="HostKeyMismatchException"/> naming both fingerprints.
/// </summary>
internal sealed class HostKeyPinning
{
    private readonly OriginConnectionSettings _settings;
    private readonly HashSet<string> _pinned;

    public HostKeyPinning(OriginConnectionSettings settings)
    {
        _settings = settings;
        _pinned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fingerprint in settings.HostKeyFingerprints)
        {
            if (HostKeyFingerprint.TryParse(fingerprint, out var canonical, out _))
                _pinned.Add(canonical);
        }
    }

    public string? Presented { get; private set; }

    public string? PresentedKeyType { get; private set; }

    public bool Refused { get; private set; }

    public void Attach(BaseClient client) => client.HostKeyReceived += OnHostKeyReceived;

    public void ThrowIfRefused()
    {
        if (Refused)
            throw new HostKeyMismatchException(_settings.Name, [.. _pinned], Presented ?? "(none)", PresentedKeyType ?? "unknown");
    }

    private void OnHostKeyReceived(object? sender, HostKeyEventArgs e)
    {
        Presented = HostKeyFingerprint.FromSshNet(e.FingerPrintSHA256);
        PresentedKeyType = e.HostKeyName;
        e.CanTrust = _pinned.Contains(Presented);
        Refused = !e.CanTrust;
    }
}
