/// Character references (`&amp;`, `&#233;`, `&#x1F600;`), shared by the HTML and Markdown extractors.
enum HTMLEntities {
    /// The named references documents commonly use; the full HTML table has over 2,000.
    static let named: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}",
        "ensp": "\u{2002}", "emsp": "\u{2003}", "thinsp": "\u{2009}", "shy": "\u{AD}",
        "zwj": "\u{200D}", "zwnj": "\u{200C}", "lrm": "\u{200E}", "rlm": "\u{200F}",
        "mdash": "—", "ndash": "–", "hellip": "…", "bull": "•", "middot": "·", "prime": "′", "Prime": "″",
        "lsquo": "‘", "rsquo": "’", "sbquo": "‚", "ldquo": "“", "rdquo": "”", "bdquo": "„",
        "laquo": "«", "raquo": "»", "lsaquo": "‹", "rsaquo": "›",
        "copy": "©", "reg": "®", "trade": "™", "deg": "°", "plusmn": "±", "times": "×", "divide": "÷",
        "micro": "µ", "para": "¶", "sect": "§", "dagger": "†", "Dagger": "‡", "permil": "‰",
        "euro": "€", "pound": "£", "yen": "¥", "cent": "¢", "curren": "¤",
        "iexcl": "¡", "iquest": "¿", "ordf": "ª", "ordm": "º", "not": "¬", "macr": "¯", "acute": "´",
        "cedil": "¸", "uml": "¨", "brvbar": "¦",
        "sup1": "¹", "sup2": "²", "sup3": "³", "frac12": "½", "frac14": "¼", "frac34": "¾",
        "larr": "←", "rarr": "→", "uarr": "↑", "darr": "↓", "harr": "↔", "rArr": "⇒", "lArr": "⇐", "hArr": "⇔",
        "le": "≤", "ge": "≥", "ne": "≠", "asymp": "≈", "equiv": "≡", "infin": "∞", "minus": "−",
        "sum": "∑", "prod": "∏", "radic": "√", "part": "∂", "nabla": "∇", "isin": "∈", "forall": "∀",
        "exist": "∃", "empty": "∅", "and": "∧", "or": "∨", "cap": "∩", "cup": "∪", "int": "∫",
        "hearts": "♥", "spades": "♠", "clubs": "♣", "diams": "♦", "loz": "◊", "check": "✓",
        "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ", "eta": "η",
        "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ",
        "omicron": "ο", "pi": "π", "rho": "ρ", "sigma": "σ", "sigmaf": "ς", "tau": "τ", "upsilon": "υ",
        "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
        "Alpha": "Α", "Beta": "Β", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Pi": "Π",
        "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
        "Agrave": "À", "Aacute": "Á", "Acirc": "Â", "Atilde": "Ã", "Auml": "Ä", "Aring": "Å", "AElig": "Æ",
        "Ccedil": "Ç", "Egrave": "È", "Eacute": "É", "Ecirc": "Ê", "Euml": "Ë", "Igrave": "Ì", "Iacute": "Í",
        "Icirc": "Î", "Iuml": "Ï", "ETH": "Ð", "Ntilde": "Ñ", "Ograve": "Ò", "Oacute": "Ó", "Ocirc": "Ô",
        "Otilde": "Õ", "Ouml": "Ö", "Oslash": "Ø", "Ugrave": "Ù", "Uacute": "Ú", "Ucirc": "Û", "Uuml": "Ü",
        "Yacute": "Ý", "THORN": "Þ", "szlig": "ß",
        "agrave": "à", "aacute": "á", "acirc": "â", "atilde": "ã", "auml": "ä", "aring": "å", "aelig": "æ",
        "ccedil": "ç", "egrave": "è", "eacute": "é", "ecirc": "ê", "euml": "ë", "igrave": "ì", "iacute": "í",
        "icirc": "î", "iuml": "ï", "eth": "ð", "ntilde": "ñ", "ograve": "ò", "oacute": "ó", "ocirc": "ô",
        "otilde": "õ", "ouml": "ö", "oslash": "ø", "ugrave": "ù", "uacute": "ú", "ucirc": "û", "uuml": "ü",
        "yacute": "ý", "thorn": "þ", "yuml": "ÿ", "OElig": "Œ", "oelig": "œ", "Scaron": "Š", "scaron": "š",
        "Yuml": "Ÿ", "fnof": "ƒ", "circ": "ˆ", "tilde": "˜",
    ]

    /// Names browsers also accept without the semicolon (a subset of HTML's legacy list).
    private static let legacyNames: Set<String> = ["amp", "lt", "gt", "quot", "nbsp", "copy", "reg"]

    /// What numeric references to C1 controls mean: browsers read them as Windows-1252.
    private static let windows1252: [UInt32: Unicode.Scalar] = [
        0x80: "€", 0x82: "‚", 0x83: "ƒ", 0x84: "„", 0x85: "…", 0x86: "†", 0x87: "‡", 0x88: "ˆ", 0x89: "‰",
        0x8A: "Š", 0x8B: "‹", 0x8C: "Œ", 0x8E: "Ž", 0x91: "‘", 0x92: "’", 0x93: "“", 0x94: "”", 0x95: "•",
        0x96: "–", 0x97: "—", 0x98: "˜", 0x99: "™", 0x9A: "š", 0x9B: "›", 0x9C: "œ", 0x9E: "ž", 0x9F: "Ÿ",
    ]

    /// The longest name in `named`, which bounds the scan for one.
    private static let longestName = 8

    /// Decodes the reference starting at `start` (an `&`), reading no further than `end`. Returns
    /// what it stands for and how many scalars it took, or nil when it is not a known reference
    /// and the `&` is text.
    static func decode(
        in scalars: [Unicode.Scalar], at start: Int, end: Int, requireSemicolon: Bool
    ) -> (replacement: String, length: Int)? {
        var index = start + 1
        guard index < end else { return nil }
        if scalars[index] == "#" {
            index += 1
            let hexadecimal = index < end && (scalars[index] == "x" || scalars[index] == "X")
            if hexadecimal { index += 1 }
            let digitsStart = index
            var value: UInt32 = 0
            while index < end, let digit = digitValue(scalars[index], hexadecimal: hexadecimal) {
                // Saturates rather than overflows; anything past U+10FFFF is replaced anyway.
                value = min(value &* (hexadecimal ? 16 : 10) &+ digit, 0x110000)
                index += 1
            }
            guard index > digitsStart else { return nil }
            let hasSemicolon = index < end && scalars[index] == ";"
            guard hasSemicolon || !requireSemicolon else { return nil }
            let length = index - start + (hasSemicolon ? 1 : 0)
            return (String(numericScalar(value)), length)
        }
        var name = String.UnicodeScalarView()
        while index < end, name.count < longestName,
            scalars[index].isASCIILetter || scalars[index].isASCIIDigit
        {
            name.append(scalars[index])
            index += 1
        }
        let key = String(name)
        guard let replacement = named[key] else { return nil }
        if index < end && scalars[index] == ";" {
            return (replacement, index - start + 1)
        }
        // Without the semicolon only the legacy names count, and not inside a longer word.
        guard !requireSemicolon, legacyNames.contains(key) else { return nil }
        if index < end && (scalars[index].isASCIILetter || scalars[index].isASCIIDigit || scalars[index] == "=") {
            return nil
        }
        return (replacement, index - start)
    }

    private static func digitValue(_ scalar: Unicode.Scalar, hexadecimal: Bool) -> UInt32? {
        guard scalar.isASCII else { return nil }
        if hexadecimal {
            return JSONScanner.hexValue(UInt8(scalar.value))
        }
        return scalar.isASCIIDigit ? scalar.value - 0x30 : nil
    }

    private static func numericScalar(_ value: UInt32) -> Unicode.Scalar {
        if let mapped = windows1252[value] {
            return mapped
        }
        if value == 0 {
            return "\u{FFFD}"
        }
        return Unicode.Scalar(value) ?? "\u{FFFD}"
    }
}
