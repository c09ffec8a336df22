using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BuildFarm.Messaging.Broker;

/// <summary>
/// How both broker connections (RabbitMQ.Client for build requests, MassTransit for events and control) check the
/// broker's certificate on <c>amqps://</c>: the host name must match and the chain must end at a trusted CA, either
/// the system's or, with <see cref="BrokerOptions.CaCertificateFile"/>, only the CAs in that file. Nothing is ever
/// accepted with a policy error; the last refusal is kept so a failed connect can say why.
/// </summary>
public sealed class BrokerTls
{
    private readonly X509Certificate2Collection? _authorities;
    private readonly string? _caFile;

    private BrokerTls(X509Certificate2Collection? authorities, string? caFile)
    {
        _authorities = authorities;
        _caFile = caFile;
    }

    /// <summary>Why the last certificate was refused (null while none was).</summary>
    public string? LastRefusal { get; private set; }

    /// <summary>The check for <paramref name="options"/>; throws <see cref="InvalidOperationException"/> naming the key when the CA file is unusable.</summary>
    public static BrokerTls For(BrokerOptions options)
    {
        if (options.CaCertificateFile.Length == 0)
            return new BrokerTls(null, null);
        return new BrokerTls(LoadAuthorities(options.CaCertificateFile), options.CaCertificateFile);
    }

    /// <summary>The CA certificates of a PEM file; throws naming <c>Broker:CaCertificateFile</c> and the reason.</summary>
    public static X509Certificate2Collection LoadAuthorities(string file)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new InvalidOperationException($"Broker:CaCertificateFile '{file}' is unusable: {e.Message} (give a PEM file with the CA certificate(s) that signed the broker's certificate)", e);
        }

        if (certificates.Count == 0)
            throw new InvalidOperationException($"Broker:CaCertificateFile '{file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        return certificates;
    }

    /// <summary>For <c>SslOption.CertificateValidationCallback</c> and MassTransit's <c>CertificateValidationCallback</c>.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        LastRefusal = Check(certificate, chain, errors);
        return LastRefusal is null;
    }

    private string? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return "the broker sent no certificate";
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return $"the broker's certificate ({certificate.Subject}) does not name the host in Broker:Uri";
        if (_authorities is null)
        {
            return errors == SslPolicyErrors.None
                ? null
                : $"the broker's certificate ({certificate.Subject}, issued by {certificate.Issuer}) is not trusted by this machine: {Status(chain)}; set Broker:CaCertificateFile to the CA that signed it";
        }

        // Only the configured CAs count: the system's roots are not consulted.
        using var own = new X509Chain();
        own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        own.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements.Skip(1))
                own.ChainPolicy.ExtraStore.Add(element.Certificate);
        }

        using var leaf = new X509Certificate2(certificate);
        return own.Build(leaf)
            ? null
            : $"the broker's certificate ({leaf.Subject}, issued by {leaf.Issuer}) is not signed by a CA in Broker:CaCertificateFile '{_caFile}': {Status(own)}";
    }

    private static string Status(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0
            ? "untrusted chain"
            : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
}
