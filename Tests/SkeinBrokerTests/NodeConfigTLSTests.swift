import SkeinBroker
import SkeinNode
import SkeinTLS
import Testing

/// `security_protocol`, `ssl_client_auth` and `[tls]` in the node config.
@Suite struct NodeConfigTLSTests {
    static let base = "node_id = 1\ndata_dir = \"d\"\n"

    @Test func plaintextAndSSLListenersWithTLSMaterial() throws {
        let c = try NodeConfig(
            parsing: Self.base + """
                [[listeners]]
                port = 9092
                [[listeners]]
                port = 9093
                security_protocol = "SSL"
                [[listeners]]
                name = "MTLS"
                port = 9094
                security_protocol = "ssl"
                ssl_client_auth = "required"
                [tls]
                ca = "tls/ca.pem"
                cert = "/etc/skein/node-1.pem"
                key = "tls/node-1.key"
                """, baseDirectory: "/srv/skein")
        #expect(c.listeners.map(\.name) == ["PLAINTEXT", "SSL", "MTLS"])  // a name defaults to the protocol's
        #expect(c.listeners.map(\.securityProtocol) == [.plaintext, .ssl, .ssl])
        #expect(c.listeners.map(\.sslClientAuthentication) == [.none, .none, .required])
        // Relative paths resolve against the config file's directory, absolute ones stay.
        #expect(
            c.tls
                == TLSMaterial(
                    caPath: "/srv/skein/tls/ca.pem", certificatePath: "/etc/skein/node-1.pem",
                    keyPath: "/srv/skein/tls/node-1.key"))
        let advertised = c.brokerConfig.advertisedListeners
        #expect(advertised["SSL"] == AdvertisedAddress(host: "127.0.0.1", port: 9093))
        #expect(advertised["MTLS"] == AdvertisedAddress(host: "127.0.0.1", port: 9094))
        #expect(advertised["PLAINTEXT"] == AdvertisedAddress(host: "127.0.0.1", port: 9092))
    }

    @Test func noTLSTableMeansNoMaterial() throws {
        let c = try NodeConfig(parsing: Self.base + "[[listeners]]\nport = 9092\n")
        #expect(c.tls == nil)
        #expect(c.listeners[0].securityProtocol == .plaintext)
    }

    static let tls = "[tls]\nca = \"ca.pem\"\ncert = \"n.pem\"\nkey = \"n.key\"\n"

    @Test(arguments: [
        ("[[listeners]]\nport = 1\nsecurity_protocol = \"SSL\"\n", "listeners[0].security_protocol"),
        ("[[listeners]]\nport = 1\nsecurity_protocol = \"SASL_SSL\"\n" + tls, "listeners[0].security_protocol"),
        ("[[listeners]]\nport = 1\nssl_client_auth = \"required\"\n" + tls, "listeners[0].ssl_client_auth"),
        (
            "[[listeners]]\nport = 1\nsecurity_protocol = \"SSL\"\nssl_client_auth = \"requested\"\n" + tls,
            "listeners[0].ssl_client_auth"
        ),
        ("[[listeners]]\nport = 1\nssl_client_authh = \"none\"\n" + tls, "listeners[0].ssl_client_authh"),
        ("[tls]\nca = \"ca.pem\"\ncert = \"n.pem\"\n", "tls.key"),
        ("[tls]\nca = \"ca.pem\"\ncert = \"n.pem\"\nkey = \"n.key\"\ncrl = \"x\"\n", "tls.crl"),
        ("[tls]\nca = 5\ncert = \"n.pem\"\nkey = \"n.key\"\n", "tls.ca"),
        ("tls = \"yes\"\n", "tls"),
    ])
    func everyTLSErrorNamesItsKey(text: String, key: String) {
        #expect {
            try NodeConfig(parsing: Self.base + text)
        } throws: { error in
            (error as? NodeConfigError)?.key == key
        }
    }
}
